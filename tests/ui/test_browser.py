"""The web UI in a real browser (Debian's Chromium, headless, through playwright-core)
against a running syncer: a real Git server, the CNCF registry and two real clusters
(dev, prod) in a pipeline whose prod stage needs an approval.

A viewer sees the right image per cluster in the apps list and cannot approve (the
button is disabled, and the API refuses the same call from the page); an approver's
click moves the release into prod; a deployer watches a new image roll out to healthy
without reloading, then rolls dev back from the detail view and dev runs the old image
again. Each view passes axe-core's WCAG checks (no serious or critical violation), the
login works by keyboard, and nothing in the page breaks the Content-Security-Policy.
With ``SYNCER_UPDATE_SCREENSHOTS=1`` the three views are saved as the README's
screenshots.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e import control
from tests.e2e.conftest import wait_until
from tests.servers import images
from tests.servers.syncer_run import serve
from tests.ui.browser import UI, Browser

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(600)]

STAGES = [
    {"name": "dev", "clusters": ["dev"]},
    {"name": "prod", "clusters": ["prod"], "after": "dev", "approval": True},
]
TOKENS = {"VERA_TOKEN": "vera-viewer-token", "ALICE_TOKEN": "alice-approver-token",
          "BOB_TOKEN": "bob-deployer-token"}  # fmt: skip
SECRET = """\
apiVersion: v1
kind: Secret
metadata: {name: site}
stringData: {password: git-secret-value}
"""
SCREENSHOTS = UI / "screenshots"
WAIT = 90.0


def deployed_image(cluster: Any) -> str:
    obj = cluster.get("apps/v1", "Deployment", "site", namespace="site")
    return str(obj["spec"]["template"]["spec"]["containers"][0]["image"]) if obj else ""


def accessible(browser: Browser, view: str) -> None:
    problems = browser.accessibility_problems()
    assert problems == [], f"{view}: {problems}"


def keep(browser: Browser, tmp: Path, name: str) -> None:
    shot = tmp / f"{name}.png"
    browser.do("evaluate", script="document.activeElement && document.activeElement.blur()")
    browser.do("screenshot", file=str(shot))
    if os.environ.get("SYNCER_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(exist_ok=True)
        shutil.copyfile(shot, SCREENSHOTS / f"{name}.png")


def test_the_web_ui_in_chromium(
    tmp_path: Path,
    git_http: Any,
    registry_server: Any,
    kube_clusters: Any,
    browser: Browser,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dev, prod = kube_clusters(names=["dev", "prod"], workload_delay=0.05)
    registry = control.web_registry(registry_server, monkeypatch)
    repository = f"{registry.host}/team/site"
    images.push_image(registry, "team/site", tags=["1.0.0"])
    files = control.app_files("site", greeting="one", image=f"{repository}:1.0.0")
    files["apps/site/secret.yaml"] = SECRET
    repo = git_http.create_repo("mono", files)
    port = control.free_port()
    config = control.write_config(
        tmp_path, url=repo.url, clusters=[dev, prod], apps=["site"], stages=STAGES,
        images={"site": repository}, registry=registry, git_interval="1s", port=port,
    )  # fmt: skip
    data = yaml.safe_load(config.read_text())
    data["apps"][0]["images"][0]["interval"] = "1s"  # a pushed tag is seen at once
    # Drift stays for the page to show: a watched change would be healed within a second.
    data["apps"][0]["sync"]["selfHeal"] = False
    config.write_text(yaml.safe_dump(data))
    users = [
        {"name": "vera", "role": "viewer", "token": "env:VERA_TOKEN"},
        {"name": "alice", "role": "approver", "token": "env:ALICE_TOKEN", "stages": ["prod"]},
        {"name": "bob", "role": "deployer", "token": "env:BOB_TOKEN"},
    ]
    control.set_users(config, port=port, users=users)
    for name, value in TOKENS.items():
        monkeypatch.setenv(name, value)
    ui = f"http://127.0.0.1:{port}/"

    with serve(config):
        # The viewer: the apps list shows what runs where.
        browser.goto(ui)
        accessible(browser, "login")
        browser.login(ui, TOKENS["VERA_TOKEN"])
        assert browser.text("[data-testid=who]") == "vera (viewer)"
        # Keyboard: the first Tab reaches "Skip to content", which moves focus to the view.
        browser.do("press", key="Tab")
        assert browser.do("focused") == "a:Skip to content"
        browser.do("press", key="Enter")
        assert browser.do("focused").startswith("main:")
        dev_cell = 'tr[data-app="site"] td[data-cluster="dev"]'
        browser.wait_text(dev_cell, "site:1.0.0")
        wait_until(lambda: deployed_image(dev).startswith(f"{repository}:1.0.0"), what="dev")
        assert deployed_image(prod) == ""
        browser.wait_text('tr[data-app="site"]', "OutOfSync")  # prod waits for approval
        accessible(browser, "apps list")
        keep(browser, tmp_path, "apps")

        # ... and the pipeline waiting for approval, which a viewer may not give.
        browser.goto(f"{ui}#/pipelines")
        prod_stage = '[data-pipeline="site"] [data-stage="prod"]'
        browser.wait_text(f'{prod_stage} [data-gate="approval"]', "waiting")
        approve = f'{prod_stage} button:has-text("Approve prod")'
        assert not browser.enabled(approve)
        refused = browser.do(
            "evaluate",
            script="fetch('api/v1/apps/site/approve', {method: 'POST', headers: "
            "{Authorization: 'Bearer ' + sessionStorage.getItem('syncer.token'), "
            "'Content-Type': 'application/json'}, body: JSON.stringify({stage: 'prod'})})"
            ".then(r => r.status)",
        )
        assert refused == 403
        accessible(browser, "pipelines")
        keep(browser, tmp_path, "pipelines")

        # The approver approves by a click; the release moves on into prod.
        browser.click('button:has-text("Sign out")')
        browser.login(f"{ui}#/pipelines", TOKENS["ALICE_TOKEN"])
        assert browser.enabled(approve)
        browser.click(approve)
        browser.wait_text("[role=status]", "Promotion into prod approved")
        browser.wait_text(f"{prod_stage} h3", "done")
        wait_until(
            lambda: deployed_image(prod).startswith(f"{repository}:1.0.0"), what="prod on 1.0.0"
        )

        # The deployer watches a new image roll out in dev, without reloading the page.
        browser.click('button:has-text("Sign out")')
        browser.login(f"{ui}#/apps/site", TOKENS["BOB_TOKEN"])
        browser.wait_text("[data-testid=history]", "promotion into prod approved by alice")
        images.push_image(registry, "team/site", tags=["1.1.0"])
        dev_row = '[data-testid=clusters] tr[data-cluster="dev"]'
        browser.do("wait", selector=f'{dev_row}:has-text("site:1.1.0"):has-text("Healthy")')
        assert deployed_image(dev).startswith(f"{repository}:1.1.0")
        # Objects per cluster: kind, name, health and drift, compared again on demand.
        browser.click('button:has-text("Compare again")')
        browser.do(
            "wait", selector='[data-plan="dev"] tr:has-text("Deployment"):has-text("Healthy")'
        )
        assert "in sync" in browser.text('[data-plan="dev"] tr:has-text("ConfigMap")')
        # Someone changes the Secret in dev: the drift shows, its values masked.
        patch = '{"stringData": {"password": "live-secret-value"}}'
        dev.kubectl(
            "-n", "site", "patch", "secret", "site", "--type=merge", "-p", patch, check=True
        )
        browser.click('button:has-text("Compare again")')
        secret_row = '[data-plan="dev"] tr:has-text("Secret")'
        browser.do("wait", selector=f"{secret_row}:has-text('update')")
        browser.click(f"{secret_row} summary")
        shown = browser.text(f"{secret_row} pre.diff")
        assert "password" in shown
        page = browser.text("body")
        assert "git-secret-value" not in page and "live-secret-value" not in page
        accessible(browser, "app detail")
        keep(browser, tmp_path, "app-detail")

        # ... and rolls dev back to the release of 1.0.0: dev runs the old image again.
        browser.do("select", selector='.actions label:has-text("Stage") select', label="dev")
        browser.do("select", selector='.actions label:has-text("Roll back to") select',
                   label="site:1.0.0")  # fmt: skip
        browser.click('button:has-text("Roll back")')
        browser.wait_text("[role=status]", "Rollback to")
        wait_until(
            lambda: deployed_image(dev).startswith(f"{repository}:1.0.0"),
            timeout=WAIT, what="dev rolled back to 1.0.0",
        )  # fmt: skip
        browser.wait_text(dev_row, "site:1.0.0")
        browser.wait_text(".summary", "pinned (dev)")
        browser.wait_text("[data-testid=history]", "requested by bob")

        assert browser.page_problems() == []
