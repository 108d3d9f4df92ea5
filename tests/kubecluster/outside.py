"""Outside clusters for the tests: the contexts of ``$SYNCER_TEST_KUBECONFIG`` (kind, k3d).

fixtures.py returns these instead of booting its own clusters when the variable is set;
controls only a test cluster has (faults, stop/start, failing images, scoped tokens)
skip the test that asks for them.
"""

from __future__ import annotations

import os
import subprocess
from typing import Any

import pytest

from tests.kubecluster import cluster, kubeconfig

ENV = "SYNCER_TEST_KUBECONFIG"


class OutsideCluster:
    """A context of a real cluster's kubeconfig, with the same reading interface."""

    def __init__(self, *, name: str, url: str, path: str) -> None:
        self.name = name
        self.context = name
        self.url = url
        self.kubeconfig = path
        self.token = ""

    def __getattr__(self, attr: str) -> Any:
        if attr in (
            "stop",
            "start",
            "set_fault",
            "clear_faults",
            "fail_image",
            "make_token",
            "kubeconfig_for",
            "put",
            "compact",
            "request_log",
            "workload_delay",
            "progress_deadline",
        ):
            pytest.skip(
                f"{attr} needs a test cluster (tests/kubecluster), not an outside one ({ENV})"
            )
        raise AttributeError(attr)

    def kubectl(
        self,
        *args: str,
        check: bool = False,
        input: str | None = None,
        timeout: float = 120,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return cluster.run_kubectl(
            self.kubeconfig, self.context, *args,
            check=check, input=input, timeout=timeout, env=env,
        )  # fmt: skip

    def api_client(self) -> Any:
        from kubernetes import config

        return config.new_client_from_config(config_file=self.kubeconfig, context=self.context)

    def _resource(self, api_version: str, kind: str) -> Any:
        from kubernetes import dynamic

        return dynamic.DynamicClient(self.api_client()).resources.get(
            api_version=api_version, kind=kind
        )

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        from kubernetes.dynamic import exceptions

        res = self._resource(api_version, kind)
        try:
            ns = (namespace or "default") if res.namespaced else None
            return res.get(name=name, namespace=ns).to_dict()
        except exceptions.NotFoundError:
            return None

    def list_objects(
        self, api_version: str, kind: str, namespace: str | None = None
    ) -> list[dict[str, Any]]:
        res = self._resource(api_version, kind)
        return [item for item in res.get(namespace=namespace).to_dict()["items"]]


def contexts(n: int, names: list[str] | None) -> list[OutsideCluster]:
    path = os.environ[ENV]
    found = kubeconfig.contexts(path)
    if names:
        by_name = dict(found)
        missing = [n for n in names if n not in by_name]
        if missing:
            pytest.fail(f"{ENV}={path} has no context named {', '.join(missing)}", pytrace=False)
        chosen = [(n, by_name[n]) for n in names]
    else:
        chosen = found[:n]
    if len(chosen) < n:
        pytest.skip(f"{ENV}={path} has {len(found)} contexts, the test needs {n}")
    return [OutsideCluster(name=name, url=url, path=path) for name, url in chosen]
