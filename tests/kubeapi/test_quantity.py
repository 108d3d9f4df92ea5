"""Resource quantities are stored in kube-apiserver's canonical form."""

from __future__ import annotations

from typing import Any

import pytest

from tests.kubeapi import quantity
from tests.kubeapi.conftest import Api, deployment


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("0.5", "500m"),
        (0.5, "500m"),
        (2, "2"),
        ("1000m", "1"),
        ("2000", "2k"),
        ("0.1", "100m"),
        ("1.5Gi", "1536Mi"),
        ("1024Mi", "1Gi"),
        ("1000Mi", "1000Mi"),
        ("0.5Ki", "512"),
        ("1e3", "1e3"),
        ("129e6", "129e6"),
        ("128974848", "128974848"),
        ("0.0000000001", "1n"),
        ("lots", "lots"),
    ],
)
def test_canonical_form(given: Any, stored: str) -> None:
    assert quantity.canonical(given) == stored


def test_container_resources_come_back_canonical(api: Api) -> None:
    body = deployment("web")
    body["spec"]["template"]["spec"]["containers"][0]["resources"] = {
        "limits": {"cpu": 0.5, "memory": "1024Mi"},
        "requests": {"cpu": "1000m", "memory": "512Mi"},
    }
    created = api.call("POST", "/apis/apps/v1/namespaces/default/deployments", body).json()
    resources = created["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources == {
        "limits": {"cpu": "500m", "memory": "1Gi"},
        "requests": {"cpu": "1", "memory": "512Mi"},
    }
