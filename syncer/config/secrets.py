"""Turning a ``model.SecretRef`` into the credential it points at, at the moment it is used.

Called by the parts that authenticate (Git sources, registries, webhook and API
verification) with the config's ``base_dir``. ``env:`` and ``file:`` are read here;
``secret:NAMESPACE/NAME#KEY`` goes through ``read_secret(namespace, name, key)``, which
the caller injects (the Kubernetes client lives under ``syncer/apply/``). Every value
returned is registered with ``syncer.redact`` so that it never shows in logs. Errors
name the reference, never the value.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from syncer import errors, redact
from syncer.config import model, refs

SecretReader = Callable[[str, str, str], str]
"""``(namespace, name, key) -> value`` of a Kubernetes Secret's data key."""


class SecretError(errors.PermanentError):
    """A secret reference cannot be resolved; fixing the environment or config helps."""


def resolve(
    ref: model.SecretRef | str,
    *,
    base_dir: str,
    read_secret: SecretReader | None = None,
    strip: bool = True,
    environ: Mapping[str, str] | None = None,
    secret: bool = True,
) -> str:
    """The value ``ref`` points at.

    ``base_dir`` anchors relative ``file:`` paths (the config file's directory).
    ``strip`` removes trailing newlines, which ``echo token > file`` adds; pass
    ``strip=False`` for SSH keys, whose final newline matters. ``environ`` defaults to
    ``os.environ``. A ``secret`` value is masked in logs from now on; a user name is
    not a secret (``secret=False``): masking it would garble every word equal to it.
    Raises ``SecretError`` (or the reader's own ``SyncerError``, e.g. a
    ``TemporaryError`` when the API server is unreachable).
    """
    if isinstance(ref, str):
        try:
            ref = refs.parse_secret_ref(ref)
        except ValueError as err:
            raise SecretError(str(err)) from None
    value = _read(ref, base_dir=base_dir, read_secret=read_secret, environ=environ)
    if strip:
        value = value.rstrip("\r\n")
    if not value:
        raise SecretError(f"{ref} is empty; expected a credential there")
    if secret:
        redact.register(value)
    return value


def _read(
    ref: model.SecretRef,
    *,
    base_dir: str,
    read_secret: SecretReader | None,
    environ: Mapping[str, str] | None,
) -> str:
    if ref.kind == "env":
        env = os.environ if environ is None else environ
        if ref.name not in env:
            raise SecretError(f"{ref}: the environment variable {ref.name} is not set")
        return env[ref.name]
    if ref.kind == "file":
        path = os.path.join(base_dir, os.path.expanduser(ref.name))
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read()
        except FileNotFoundError:
            raise SecretError(f"{ref}: no such file {path}") from None
        except UnicodeDecodeError:
            raise SecretError(f"{ref}: {path} is not UTF-8 text") from None
        except OSError as err:
            raise SecretError(f"{ref}: cannot read {path}: {err.strerror}") from None
    if read_secret is None:
        raise SecretError(f"{ref}: Kubernetes Secrets cannot be read here (no cluster access)")
    namespace, _, name = ref.name.partition("/")
    try:
        return read_secret(namespace, name, ref.key)
    except errors.SyncerError:
        raise
    except KeyError:
        raise SecretError(f"{ref}: the Secret {ref.name} has no key {ref.key!r}") from None
    except Exception as err:
        # A reader should raise our errors; anything else is wrapped, without its text
        # (it could quote the data it failed on).
        raise SecretError(f"{ref}: reading the Secret failed ({type(err).__name__})") from err
