"""The chart's availability and monitoring pieces: the webhook port and its Ingress, the
PodDisruptionBudget, the ServiceMonitor, the PrometheusRule (checked and unit-tested
with the real promtool) and the Grafana dashboard; every rendered object of a built-in
kind is validated against the Kubernetes schemas (kubernetes-validate)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from prometheus_client import parser

from syncer import metrics
from tests.helm.conftest import CHART, NAMESPACE, Rendered
from tests.promtool import build as promtool_build

MONITORING = [
    "monitoring.coreos.com/v1/ServiceMonitor",
    "monitoring.coreos.com/v1/PrometheusRule",
]
"""What ``--api-versions`` says the cluster serves when the Prometheus Operator is there."""

EVERYTHING: dict[str, Any] = {
    "replicaCount": 2,
    # One leader and a standby (the alert on the leader is what is tested here).
    "sharding": {"enabled": False},
    "serviceMonitor": {"enabled": True},
    "prometheusRule": {"enabled": True, "alertLabels": {"team": "platform"}},
    "grafanaDashboard": {"enabled": True},
    "ingress": {
        "enabled": True,
        "className": "nginx",
        "hosts": [
            {
                "host": "hooks.example.com",
                "paths": [
                    {"path": "/webhooks", "pathType": "Prefix"},
                    {"path": "/", "pathType": "Prefix"},
                ],
            }
        ],
        "tls": [{"secretName": "hooks-tls", "hosts": ["hooks.example.com"]}],
    },
}
"""Every optional piece on."""

SELECTOR = 'job="t-syncer",namespace="syncer"'
"""The labels a ServiceMonitor scrape of release t in namespace syncer gives each series."""


@pytest.fixture
def promtool() -> str:
    return promtool_build.require()


def test_webhooks_have_their_own_port_and_only_it_is_behind_the_ingress(
    render: Callable[..., Rendered],
) -> None:
    rendered = render(EVERYTHING, api_versions=MONITORING)
    ports = {p["name"]: p["containerPort"] for p in rendered.container["ports"]}
    assert ports == {"http": 8080, "webhooks": 8081}
    service = rendered.one("Service")
    assert [(p["name"], p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [
        ("http", 8080, "http"),
        ("webhooks", 8081, "webhooks"),
    ]
    (config_map,) = [c for c in rendered.of_kind("ConfigMap") if "config.yaml" in c["data"]]
    config = yaml.safe_load(config_map["data"]["config.yaml"])
    assert config["server"]["listen"] == "0.0.0.0:8080"
    assert config["server"]["webhookListen"] == "0.0.0.0:8081"
    ingress = rendered.one("Ingress")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"secretName": "hooks-tls", "hosts": ["hooks.example.com"]}]
    backends = [
        (rule["host"], path["path"], path["backend"]["service"])
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    ]
    webhooks = {"name": "t-syncer", "port": {"name": "webhooks"}}
    assert backends == [
        ("hooks.example.com", "/webhooks", webhooks),
        ("hooks.example.com", "/", webhooks),
    ]
    assert service["metadata"]["name"] == "t-syncer"
    # The NetworkPolicy lets webhooksFrom reach the webhook port, and only it.
    rules = rendered.one("NetworkPolicy")["spec"]["ingress"]
    assert [r["ports"] for r in rules] == [
        [{"port": "http", "protocol": "TCP"}],
        [{"port": "webhooks", "protocol": "TCP"}],
    ]
    nginx = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "nginx"}}}
    widened = render({"networkPolicy": {"webhooksFrom": [nginx]}}).one("NetworkPolicy")
    assert widened["spec"]["ingress"][1]["from"] == [nginx]
    assert widened["spec"]["ingress"][0]["from"] == [{"podSelector": {}}]
    # Off by default.
    assert render().of_kind("Ingress") == []


def test_the_two_ports_must_differ(helm: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    proc = helm("template", "t", str(CHART), "--set", "server.webhookPort=8080", check=False)
    assert proc.returncode != 0
    assert "server.port and server.webhookPort must differ" in proc.stderr


def test_a_disruption_budget_keeps_drains_to_one_replica_at_a_time(
    render: Callable[..., Rendered],
) -> None:
    rendered = render({"replicaCount": 2})
    budget = rendered.one("PodDisruptionBudget")
    assert budget["spec"]["maxUnavailable"] == 1
    assert (
        budget["spec"]["selector"]["matchLabels"]
        == rendered.one("Deployment")["spec"]["selector"]["matchLabels"]
    )
    assert render({"podDisruptionBudget": {"enabled": False}}).of_kind("PodDisruptionBudget") == []


@pytest.mark.parametrize(
    ("value", "kind"),
    [("serviceMonitor", "ServiceMonitor"), ("prometheusRule", "PrometheusRule")],
)
def test_monitoring_objects_need_the_prometheus_operator(
    helm: Callable[..., subprocess.CompletedProcess[str]],
    render: Callable[..., Rendered],
    value: str,
    kind: str,
) -> None:
    assert render(api_versions=MONITORING).of_kind(kind) == []  # off by default
    refused = helm("template", "t", str(CHART), "--set", f"{value}.enabled=true", check=False)
    assert refused.returncode != 0
    assert f"{value}.enabled=true needs the Prometheus Operator CRD" in refused.stderr
    assert f"monitoring.coreos.com/v1 {kind}" in refused.stderr
    made = render({value: {"enabled": True}}, api_versions=MONITORING).one(kind)
    assert made["metadata"]["namespace"] == NAMESPACE


def test_every_rendered_object_is_valid_for_kubernetes(render: Callable[..., Rendered]) -> None:
    checked = set()
    for values in ({}, EVERYTHING, {"persistence": {"enabled": False}, "replicaCount": 1}):
        for obj in render(values, api_versions=MONITORING).objects:
            if obj["apiVersion"].startswith("monitoring.coreos.com/"):
                continue  # CRDs: the install test has a real API server check them
            try:
                kubernetes_validate.validate(obj, "1.37.0", strict=True)
            except kubernetes_validate.ValidationError as err:
                pytest.fail(f"{obj['kind']}/{obj['metadata']['name']}: {err.message}")
            checked.add(obj["kind"])
    assert {"Deployment", "Service", "Ingress", "PodDisruptionBudget", "ConfigMap"} <= checked


def _exported_series() -> set[str]:
    """Every series name syncer's /metrics can carry (counter and histogram suffixes too)."""
    names = set()
    for family in parser.text_string_to_metric_families(metrics.exposition(None)[1].decode()):
        suffixes = {
            "counter": ["_total"],
            "histogram": ["_bucket", "_sum", "_count"],
            "summary": ["_sum", "_count", ""],
        }.get(family.type, [""])
        names.update(family.name + suffix for suffix in suffixes)
    return names


def _series_in(expr: str) -> set[str]:
    return set(re.findall(r"\b((?:syncer|process|python)_[a-z_]+)\b", expr))


def test_dashboard_and_alerts_use_only_series_syncer_exports(
    render: Callable[..., Rendered],
) -> None:
    rendered = render(EVERYTHING, api_versions=MONITORING)
    dashboard_map = next(
        c for c in rendered.of_kind("ConfigMap") if c["metadata"]["name"] == "t-syncer-dashboard"
    )
    assert dashboard_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(dashboard_map["data"]["syncer.json"])
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    rules = rendered.one("PrometheusRule")["spec"]["groups"][0]["rules"]
    exprs += [r["expr"] for r in rules]
    used = set().union(*(_series_in(e) for e in exprs))
    exported = _exported_series()
    assert used - exported == set()
    # The dashboard shows what the alerts are about.
    shown = set().union(
        *(_series_in(t["expr"]) for p in dashboard["panels"] for t in p.get("targets", []))
    )
    assert {
        "syncer_app_info",
        "syncer_rollouts_total",
        "syncer_approval_requested_timestamp_seconds",
        "syncer_git_errors_total",
        "syncer_registry_errors_total",
        "syncer_leader",
    } <= shown


def _rules_file(
    render: Callable[..., Rendered], tmp_path: Path, *, sharded: bool = False, **values: Any
) -> Path:
    chart = {"prometheusRule": {"enabled": True, **values}, "sharding": {"enabled": sharded}}
    rule = render(chart, api_versions=MONITORING).one("PrometheusRule")
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    return path


def test_alert_rules_pass_promtool_check(
    promtool: str, render: Callable[..., Rendered], tmp_path: Path
) -> None:
    rules = _rules_file(render, tmp_path)
    done = subprocess.run(
        [promtool, "check", "rules", "--lint=all", "--lint-fatal", str(rules)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 6 rules found" in done.stdout


def _series(name: str, values: str, **labels: str) -> dict[str, str]:
    inner = ",".join([SELECTOR, *(f'{k}="{v}"' for k, v in labels.items())])
    return {"series": f"{name}{{{inner}}}", "values": values}


def _alert(labels: dict[str, str], summary: str, description: str) -> dict[str, Any]:
    return {
        "exp_labels": {**labels, "team": "platform"},
        "exp_annotations": {"summary": summary, "description": description},
    }


def test_alerts_fire_when_and_only_when_they_should(
    promtool: str, render: Callable[..., Rendered], tmp_path: Path
) -> None:
    _rules_file(render, tmp_path, alertLabels={"team": "platform"})
    degraded = {"app": "web", "health_status": "Degraded"}
    rolled_back = {"app": "web", "cluster": "prod", "stage": "prod", "result": "rolled-back"}
    git = {"source": "deploy", "reason": "unreachable"}
    minutes = {
        "interval": "1m",
        "input_series": [
            # web turns Degraded at minute 5 and stays; api is Healthy throughout.
            _series(
                "syncer_app_info", "1x4", app="web", health_status="Healthy", sync_status="Synced"
            ),
            _series(
                "syncer_app_info",
                "_x5 1x35",
                app="web",
                health_status="Degraded",
                sync_status="Synced",
            ),
            _series(
                "syncer_app_info", "1x40", app="api", health_status="Healthy", sync_status="Synced"
            ),
            # One rollback at minute 3 (the series existed at 0 before: declared at start).
            _series("syncer_rollouts_total", "0 0 0 1x37", **rolled_back),
            _series(
                "syncer_rollouts_total",
                "0+1x40",
                app="web",
                cluster="dev",
                stage="dev",
                result="healthy",
            ),
            # deploy fails every poll; old failed for 5 minutes long ago and recovered.
            _series("syncer_git_errors_total", "0+1x40", **git),
            _series("syncer_git_errors_total", "0+1x5 5x35", source="old", reason="unreachable"),
            _series(
                "syncer_registry_errors_total", "0+2x40", registry="ghcr.io", reason="rate-limited"
            ),
            _series(
                "syncer_registry_errors_total", "0+1x40", registry="ghcr.io", reason="not-found"
            ),
            # The leader (a) loses the Lease at minute 11; b stands by and never takes over.
            _series("syncer_leader", "1x10 0x30", pod="a"),
            _series("syncer_leader", "0x40", pod="b"),
        ],
        "alert_rule_test": [
            {"eval_time": "15m", "alertname": "SyncerAppUnhealthy", "exp_alerts": []},
            {
                "eval_time": "21m",
                "alertname": "SyncerAppUnhealthy",
                "exp_alerts": [
                    _alert(
                        {**degraded, "severity": "warning"},
                        "syncer app web is Degraded",
                        "App web has been Degraded for 15m; syncer status web says why.",
                    )
                ],
            },
            {
                "eval_time": "5m",
                "alertname": "SyncerRolloutFailed",
                "exp_alerts": [
                    _alert(
                        {**rolled_back, "severity": "warning"},
                        "syncer rollout of web on prod: rolled-back",
                        "A rollout of app web on cluster prod ended rolled-back in the last 15 "
                        "minutes (syncer history web says why).",
                    )
                ],
            },
            {"eval_time": "25m", "alertname": "SyncerRolloutFailed", "exp_alerts": []},
            {"eval_time": "10m", "alertname": "SyncerGitSourceUnreachable", "exp_alerts": []},
            {
                "eval_time": "30m",
                "alertname": "SyncerGitSourceUnreachable",
                "exp_alerts": [
                    _alert(
                        {**git, "severity": "warning"},
                        "syncer cannot poll Git source deploy (unreachable)",
                        "Polls of Git source deploy have failed (unreachable) for 15m; its apps "
                        "keep what runs and take no new commits.",
                    )
                ],
            },
            {
                "eval_time": "30m",
                "alertname": "SyncerRegistryUnreachable",
                "exp_alerts": [
                    _alert(
                        {"registry": "ghcr.io", "reason": "rate-limited", "severity": "warning"},
                        "syncer cannot read registry ghcr.io (rate-limited)",
                        "Looks at image repositories on ghcr.io have failed (rate-limited) for "
                        "15m; apps keep the images they run.",
                    )
                ],
            },
            {"eval_time": "12m", "alertname": "SyncerNoLeader", "exp_alerts": []},
            {
                "eval_time": "17m",
                "alertname": "SyncerNoLeader",
                "exp_alerts": [
                    _alert(
                        {"severity": "critical"},
                        "syncer has no leader",
                        "No syncer replica of syncer/t-syncer has held the leader Lease for 5m: "
                        "nothing is reconciled.",
                    )
                ],
            },
        ],
    }
    hours = {
        "interval": "1h",
        "input_series": [
            # Asked for approval at Unix time 0 (the test's start); still pending.
            _series("syncer_approval_requested_timestamp_seconds", "0x30", app="web", stage="prod"),
        ],
        "alert_rule_test": [
            {"eval_time": "23h", "alertname": "SyncerApprovalPending", "exp_alerts": []},
            {
                "eval_time": "25h",
                "alertname": "SyncerApprovalPending",
                "exp_alerts": [
                    _alert(
                        {"app": "web", "stage": "prod", "severity": "info"},
                        "syncer: promotion of web into prod waits for approval",
                        "The promotion of app web into stage prod has waited for a manual "
                        "approval for more than 24 hours (syncer approve).",
                    )
                ],
            },
            # No replica scraped at all is no leader too.
            {
                "eval_time": "1h",
                "alertname": "SyncerNoLeader",
                "exp_alerts": [
                    _alert(
                        {"severity": "critical"},
                        "syncer has no leader",
                        "No syncer replica of syncer/t-syncer has held the leader Lease for 5m: "
                        "nothing is reconciled.",
                    )
                ],
            },
        ],
    }
    tests = tmp_path / "alerts_test.yaml"
    tests.write_text(
        yaml.safe_dump(
            {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": [minutes, hours]}
        )
    )
    done = subprocess.run(
        [promtool, "test", "rules", str(tests)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_without_leader_election_there_is_no_leader_alert(
    render: Callable[..., Rendered],
) -> None:
    values = {"prometheusRule": {"enabled": True}, "leaderElection": {"enabled": False}}
    rules = render(values, api_versions=MONITORING).one("PrometheusRule")["spec"]["groups"][0]
    assert "SyncerNoLeader" not in [r["alert"] for r in rules["rules"]]
    # Sharded replicas (the default) are watched per shard instead.
    (unheld,) = [r for r in rules["rules"] if r["alert"] == "SyncerShardsUnheld"]
    assert "syncer_shard_held" in unheld["expr"] and unheld["expr"].endswith("< 16")


def test_shard_alert_fires_while_a_shard_has_no_replica(
    promtool: str, render: Callable[..., Rendered], tmp_path: Path
) -> None:
    _rules_file(render, tmp_path, sharded=True, alertLabels={"team": "platform"})
    # Two replicas hold 8 of the 16 shards each; b dies at minute 10 and a takes its
    # shards at minute 12 (within noLeaderFor: no alert); at minute 20 a dies too.
    held_a = {str(s): "1x40" for s in range(8)} | {str(s): "0x11 1x8 0x20" for s in range(8, 16)}
    held_b = {str(s): "1x9" for s in range(8, 16)}
    series = [
        _series("syncer_shard_held", values, pod="a", shard=shard)
        for shard, values in held_a.items()
    ]
    series[:8] = [_series("syncer_shard_held", "1x19", pod="a", shard=str(s)) for s in range(8)]
    series += [
        _series("syncer_shard_held", values, pod="b", shard=shard)
        for shard, values in held_b.items()
    ]
    expected = _alert(
        {"severity": "critical"},
        "syncer shards without a replica",
        "Fewer than 16 shards of syncer/t-syncer have been held by a replica for 5m: the "
        "apps of the others are not reconciled.",
    )
    tests = tmp_path / "alerts_test.yaml"
    tests.write_text(
        yaml.safe_dump(
            {
                "rule_files": ["rules.yaml"],
                "evaluation_interval": "1m",
                "tests": [
                    {
                        "interval": "1m",
                        "input_series": series,
                        "alert_rule_test": [
                            {"eval_time": "9m", "alertname": "SyncerShardsUnheld",
                             "exp_alerts": []},
                            {"eval_time": "15m", "alertname": "SyncerShardsUnheld",
                             "exp_alerts": []},
                            {"eval_time": "30m", "alertname": "SyncerShardsUnheld",
                             "exp_alerts": [expected]},
                        ],
                    }
                ],
            }
        )
    )  # fmt: skip
    done = subprocess.run(
        [promtool, "test", "rules", str(tests)], capture_output=True, text=True, check=False,
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
