"""``syncer image tags`` and ``syncer image latest``: ask a registry directly.

Registered by ``syncer.cli``. Builds one ``registry.Client`` from the flags: with
``-c FILE`` the registry's entry of a syncer config (auth refs, caFile, insecure, rate
limit, through ``syncer.images``), plus ``--docker-config`` (else
``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json`` when present); prints
through ``syncer.output``.
Exit codes: 0 an answer, 1 no tag matches the policy, 2 bad usage (reference, policy,
flags), 3 registry or auth errors; always one line on stderr when not 0.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

import registry
from syncer import errors, output

EXIT_NO_MATCH = 1
EXIT_USAGE = 2
EXIT_REGISTRY = 3


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "image",
        help="list tags or find the image a policy picks",
        description="Query a container registry the way the controller does.",
        epilog=TAGS_EXAMPLES + LATEST_EXAMPLES.removeprefix("examples:\n"),
    )
    commands = parser.add_subparsers(dest="image_command", metavar="COMMAND", required=True)
    tags = commands.add_parser(
        "tags",
        help="list a repository's tags",
        description="List a repository's tags, sorted; -o wide adds each tag's digest "
        "(one request per tag).",
        epilog=TAGS_EXAMPLES,
    )
    tags.add_argument("repo", metavar="REPO", help="e.g. registry.example.com/team/web")
    _connection_flags(tags)
    output.add_output_flag(tags, wide=True)
    tags.set_defaults(func=run_tags)
    latest = commands.add_parser(
        "latest",
        help="the tag and digest a policy picks, and why",
        description="Print REPO:TAG@DIGEST chosen by POLICY, and the reason.",
        epilog=LATEST_EXAMPLES,
    )
    latest.add_argument("repo", metavar="REPO", help="e.g. registry.example.com/team/web")
    latest.add_argument(
        "--policy",
        required=True,
        metavar="POLICY",
        help="semver:RANGE, alphabetical:asc|desc, numerical:asc|desc, digest:TAG or "
        "newest-build[:OS/ARCH]",
    )
    latest.add_argument("--filter", default="", metavar="REGEX", help="regex tags must match")
    latest.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="GLOB",
        help="a tag never to choose ('*-debug'); repeatable",
    )
    latest.add_argument(
        "--extract", default="", metavar="TEMPLATE", help="order by this ($name, $1) instead"
    )
    _connection_flags(latest)
    output.add_output_flag(latest)
    latest.set_defaults(func=run_latest)


TAGS_EXAMPLES = """examples:
  # one tag per line, sorted
  syncer image tags registry.example.com/team/web
  # with the digest each tag points at, using the registry settings of a config
  syncer image tags registry.example.com/team/web -c deploy/syncer.yaml -o wide
"""

LATEST_EXAMPLES = """examples:
  # what the controller would deploy for a semver range, and why
  syncer image latest registry.example.com/team/web --policy 'semver:^1.2'
  # newest build of a regex-filtered tag, ordered by the number it carries
  syncer image latest registry.example.com/team/web --policy numerical:asc \\
      --filter '^main-(?P<n>[0-9]+)$' --extract '$n' --ignore '*-debug'
  # the digest :latest points at now
  syncer image latest registry.example.com/team/web --policy digest:latest -o json
"""


def _connection_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c",
        "--config",
        default="",
        metavar="FILE",
        help="use this registry's settings (auth, caFile, insecure, rate "
        "limit) from a syncer config file",
    )
    parser.add_argument(
        "--docker-config",
        default="",
        metavar="PATH",
        help="docker config.json with credentials (auths, credHelpers)",
    )
    parser.add_argument(
        "--ca-file",
        default="",
        metavar="PATH",
        help="PEM file of the CA that signed the registry's certificate",
    )
    parser.add_argument(
        "--insecure", action="store_true", help="plain HTTP (automatic for localhost and 127.0.0.1)"
    )


class _UsageError(Exception):
    pass


def _docker_config(flag: str) -> str:
    if flag:
        if not Path(flag).is_file():
            raise _UsageError(f"--docker-config {flag}: no such file")
        return flag
    base = os.environ.get("DOCKER_CONFIG") or os.path.expanduser("~/.docker")
    default = os.path.join(base, "config.json")
    return default if os.path.isfile(default) else ""


def _configured(path: str, host: str) -> tuple[registry.ClientSettings | None, Any]:
    """Settings and credentials of ``host`` from a syncer config (None when not listed)."""
    # Only with -c: the config model and its glue cost more start-up than the request.
    from syncer import images
    from syncer.config import loader

    config = loader.load(path)
    for reg in config.registries:
        if images.canonical_host(reg.host) == host:
            settings = images.client_settings(reg, base_dir=config.base_dir)
            return settings, images.credential_source(reg, base_dir=config.base_dir)
    return None, None


def _client(args: argparse.Namespace, ref: registry.Reference) -> registry.Client:
    if args.ca_file and not Path(args.ca_file).is_file():
        raise _UsageError(f"--ca-file {args.ca_file}: no such file")
    docker_config = _docker_config(args.docker_config)
    settings, configured = _configured(args.config, ref.domain) if args.config else (None, None)
    settings = settings or registry.ClientSettings(host=ref.domain)
    # Flags win over the config file.
    settings = dataclasses.replace(
        settings,
        insecure=args.insecure or settings.insecure,
        ca_file=args.ca_file or settings.ca_file,
    )
    sources = [s for s in (configured,) if s is not None]
    if docker_config:
        sources.append(registry.DockerConfig(docker_config))
    return registry.Client(settings, credentials_source=registry.Chain(sources))


def _fail(message: str, code: int, *, args: argparse.Namespace | None = None) -> int:
    print(f"error: {message}", file=sys.stderr)
    fmt = getattr(args, "output", "text")
    if fmt != "text":
        # Scripts parsing -o json get an object with the reason, not an empty stdout.
        data = {"repository": getattr(args, "repo", ""), "tag": None, "digest": None}
        output.emit({**data, "error": message, "exitCode": code}, fmt=fmt)
    return code


def _guarded(args: argparse.Namespace, work: Any) -> int:
    """Run ``work()`` and turn every failure into its exit code and one stderr line."""
    try:
        return int(work())
    except _UsageError as err:
        return _fail(str(err), EXIT_USAGE, args=args)
    except (registry.InvalidReferenceError, registry.InvalidPolicyError) as err:
        return _fail(str(err), EXIT_USAGE, args=args)
    except registry.NoCandidateError as err:
        return _fail(str(err), EXIT_NO_MATCH, args=args)
    except registry.RegistryError as err:
        return _fail(str(err), EXIT_REGISTRY, args=args)
    except ValueError as err:  # ClientSettings refusing a value
        return _fail(str(err), EXIT_USAGE, args=args)
    except errors.ConfigError as err:
        return _fail(f"{args.config}: {'; '.join(err.problems)}", EXIT_USAGE, args=args)
    except errors.PermanentError as err:  # a secret reference that cannot be resolved
        return _fail(str(err), EXIT_USAGE, args=args)
    except errors.SyncerError as err:
        return _fail(str(err), EXIT_REGISTRY, args=args)


def run_tags(args: argparse.Namespace) -> int:
    def work() -> int:
        ref = registry.parse_repository(args.repo)
        client = _client(args, ref)
        try:
            listing = client.list_tags(ref)
            tags = sorted(listing.tags)
            # -o wide: the digest of each tag, one HEAD each, through the rate limit.
            digests = [client.head_digest(ref, t) for t in tags] if args.output == "wide" else []
        finally:
            client.close()
        data = {
            "repository": ref.repository,
            "count": len(listing.tags),
            "truncated": listing.truncated,
            "tags": tags,
        }
        if args.output == "wide":
            rows = [{"tag": t, "digest": d} for t, d in zip(tags, digests, strict=True)]
            output.emit(rows, fmt=args.output, text=_tags_table)
        else:
            output.emit(data, fmt=args.output, text=lambda d: "\n".join(d["tags"]))
        return 0

    return _guarded(args, work)


TAG_COLUMNS = (
    output.Column("TAG", lambda r: r["tag"]),
    output.Column("DIGEST", lambda r: r["digest"]),
)


def _tags_table(rows: list[dict[str, str]]) -> str:
    return output.table(rows, TAG_COLUMNS, wide=True) if rows else "no tags"


def run_latest(args: argparse.Namespace) -> int:
    def work() -> int:
        ref = registry.parse_repository(args.repo)
        policy = registry.parse_policy(
            args.policy, pattern=args.filter, extract=args.extract, ignore_tags=args.ignore
        )
        client = _client(args, ref)
        try:
            decision = registry.resolve(ref, policy, client=client)
        finally:
            client.close()
        data = {
            "repository": decision.repository,
            "tag": decision.tag,
            "digest": decision.digest,
            "ref": decision.ref,
            "reason": decision.reason,
            "policy": decision.policy,
        }
        output.emit(data, fmt=args.output, text=lambda d: f"{d['ref']}\n{d['reason']}")
        return 0

    return _guarded(args, work)
