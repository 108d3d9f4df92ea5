"""The web UI's views in Chromium against the real HTTP server in front of a controller
stub (``tests.server.conftest.FakePort``) that answers states hard to reach on real
clusters in a test's time: a pipeline whose gates wait for a soak, a window, an approval
and one cluster at a time, a failed stage, a held-back image; and 1,000 apps.

The pipeline view shows each gate with what it waits for (time left, when the window
opens) and the reason a stage stopped; an approver limited to one stage may decide
only there. The apps list keeps its DOM small with 1,000 apps while search, filters and
scrolling reach every app. axe-core finds no serious or critical violation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from syncer.config import model
from syncer.server import http
from tests.bench.bench_ui import summary
from tests.server.conftest import FakePort
from tests.ui.browser import Browser

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

TOKENS = {"T_CAROL": "carol-token", "T_ADA": "ada-token"}
USERS = (
    model.ApiUser(name="carol", role="approver", token=model.SecretRef("env", "T_CAROL"),
                  stages=("prod",)),
    model.ApiUser(name="ada", role="admin", token=model.SecretRef("env", "T_ADA")),
)  # fmt: skip


def iso(delta: dt.timedelta) -> str:
    return (dt.datetime.now(dt.UTC) + delta).isoformat(timespec="seconds").replace("+00:00", "Z")


def gate(name: str, state: str, message: str, until: str | None = None) -> dict[str, Any]:
    return {"gate": name, "state": state, "message": message, "until": until}


def stage(name: str, phase: str, gates: list[dict[str, Any]], running: str = "") -> dict[str, Any]:
    return {
        "name": name, "phase": phase, "message": "", "gates": gates,
        "clusters": [{"name": f"{name}-1", "release": running, "state": "healthy" if running
                      else "", "running": running, "current": bool(running)}],
    }  # fmt: skip


GATED = {
    **summary(1),
    "name": "shop",
    "warnings": ["held back image registry.example.com/shop:2.0.0: rolled back as unhealthy"
                 " in dev; using registry.example.com/shop:1.9.0 until the policy picks another"
                 " image"],
    "stages": [
        stage("dev", "done", [], running="aaaaaaaaaaaa1111"),
        stage("staging", "waiting", [
            gate("after", "passed", "stage staging: after dev"),
            gate("soak", "waiting", "stage staging: soaking in dev, 9m 59s left",
                 iso(dt.timedelta(minutes=10))),
        ]),
        stage("prod", "waiting", [
            gate("window", "waiting", "stage prod: outside its window; opens at 22:00 UTC",
                 iso(dt.timedelta(hours=5))),
            gate("approval", "waiting", "stage prod: waiting for approval of release"
                 " bbbbbbbbbbbb"),
            gate("oneAtATime", "waiting", "stage prod: one cluster at a time: prod-1 first"),
        ]),
        stage("qa", "failed", [
            gate("health", "blocked", "stage qa: release bbbbbbbbbbbb failed in cluster qa-1;"
                 " the pipeline stops here"),
        ]),
    ],
}  # fmt: skip


class Port(FakePort):
    def __init__(self, apps: list[dict[str, Any]]) -> None:
        super().__init__()
        self.apps = {a["name"]: a for a in apps}


@pytest.fixture
def serve_ui(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in TOKENS.items():
        monkeypatch.setenv(name, value)
    started: list[http.HttpServer] = []

    def start(apps: list[dict[str, Any]]) -> str:
        settings = model.Server(listen="127.0.0.1:0", webhook_listen="127.0.0.1:0", users=USERS)
        server = http.HttpServer(settings=settings, port=Port(apps)).start()
        started.append(server)
        return f"{server.url}/"

    yield start
    for server in started:
        server.stop()


def test_pipeline_gates_say_what_they_wait_for(serve_ui: Any, browser: Browser) -> None:
    url = serve_ui([GATED])
    browser.login(f"{url}#/pipelines", TOKENS["T_CAROL"])
    pipe = '[data-pipeline="shop"]'
    browser.wait_text(f'{pipe} [data-stage="dev"]', "runs aaaaaaaaaaaa")
    soak = browser.text(f'{pipe} [data-stage="staging"] [data-gate="soak"]')
    assert "soak" in soak and ("9m" in soak or "10m" in soak) and "left" in soak, soak
    window = browser.text(f'{pipe} [data-stage="prod"] [data-gate="window"]')
    assert "opens " in window and "22:00 UTC" in window, window
    one = browser.text(f'{pipe} [data-stage="prod"] [data-gate="oneAtATime"]')
    assert "one at a time" in one and "prod-1 first" in one, one
    failed = browser.text(f'{pipe} [data-stage="qa"]')
    assert "failed" in failed and "the pipeline stops here" in failed, failed
    held = browser.text(f'{pipe} [aria-label="Held-back images"]')
    assert "registry.example.com/shop:2.0.0" in held
    # carol approves in prod only: prod's buttons work, no other stage waits for her.
    assert browser.enabled(f'{pipe} button:has-text("Approve prod")')
    assert browser.do("count", selector=f'{pipe} button:has-text("Approve staging")') == 0
    browser.click(f'{pipe} button:has-text("Approve prod")')
    browser.wait_text("[role=status]", "Promotion into prod approved")
    assert browser.accessibility_problems() == []
    assert browser.page_problems() == []


def test_a_stage_limited_approver_cannot_decide_elsewhere(serve_ui: Any, browser: Browser) -> None:
    waiting_staging = {
        **GATED,
        "stages": [stage("staging", "waiting", [gate("approval", "waiting", "stage staging:"
                                                      " waiting for approval")])],
    }  # fmt: skip
    url = serve_ui([waiting_staging])
    browser.login(f"{url}#/pipelines", TOKENS["T_CAROL"])
    button = '[data-stage="staging"] button:has-text("Approve staging")'
    browser.do("wait", selector=button)
    assert not browser.enabled(button)
    assert not browser.enabled('[data-stage="staging"] button:has-text("Reject staging")')


def test_a_thousand_apps_stay_a_small_page(serve_ui: Any, browser: Browser) -> None:
    url = serve_ui([summary(i) for i in range(1000)])
    browser.login(url, TOKENS["T_ADA"])
    browser.wait_text("[data-testid=count]", "1000 of 1000 apps")
    rows = browser.do("count", selector="tbody tr[data-app]")
    assert 0 < rows < 60, rows  # only the rows in view, not 1,000
    assert browser.do("count", selector='tr[data-app="app-0999"]') == 0
    # The last app is reached by scrolling ...
    browser.do("evaluate", script="document.querySelector('.scroller').scrollTop = 1e9")
    browser.wait_text('tr[data-app="app-0999"] td[data-cluster="prod"]', "app-0999:1.0.4")
    assert browser.do("count", selector="tbody tr[data-app]") < 60
    # ... by search (name, image or commit) ...
    browser.fill('input[type="search"]', "app-0998-worker")
    browser.wait_text("[data-testid=count]", "1 of 1000 apps")
    assert browser.do("count", selector="tbody tr[data-app]") == 1
    browser.fill('input[type="search"]', "")
    # ... and filters: every 17th app is Degraded, every 10th has a hold.
    browser.do("select", selector='label:has-text("Health") select', label="Degraded")
    browser.wait_text("[data-testid=count]", "59 of 1000 apps")
    browser.click('label:has-text("Suspended or pinned only") input')
    browser.wait_text("[data-testid=count]", "6 of 1000 apps")
    browser.wait_text('tr[data-app="app-0000"]', "suspended (prod)")
    assert browser.accessibility_problems() == []
    assert browser.page_problems() == []


@pytest.mark.parametrize(
    ("app", "says"),
    [
        ("a-web", "Tenant team-a, defined in team-a-deploy:syncer-apps/web.yaml. Shard 7: held"
                  " by syncer-1."),
        ("b-api", "Shard 7: held by no replica now."),
    ],
)  # fmt: skip
def test_an_app_says_its_tenant_file_and_the_replica_that_holds_it(
    serve_ui: Any, browser: Browser, app: str, says: str
) -> None:
    team_app = {
        **summary(3), "name": "a-web", "tenant": "team-a",
        "origin": "team-a-deploy:syncer-apps/web.yaml", "owner": "syncer-1", "shard": 7,
        "desiredRelease": "", "approvals": [], "rollouts": [], "rejected": {},
        "pipelineStages": [],
    }  # fmt: skip
    unheld = {**team_app, "name": "b-api", "tenant": "", "origin": "", "owner": ""}
    url = serve_ui([team_app, unheld])
    browser.login(f"{url}#/apps/{app}", TOKENS["T_ADA"])
    browser.wait_text("[data-testid=where]", says)
    assert (
        browser.do("evaluate", script="document.querySelector('[data-testid=where]').innerText")
        == says
    )
    assert browser.accessibility_problems() == []
