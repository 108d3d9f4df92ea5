"""A headless Chromium for the web UI's tests, driven from Python through ``driver.cjs``.

``Browser`` starts ``node tests/ui/driver.cjs`` (playwright-core launching Debian's
Chromium) and sends it one command at a time, so a test interleaves what it does in the
page with what it checks on the clusters. The browser, Node and the npm packages
(``syncer/ui/node_modules``, from ``tests/setup``) are required: without them the tests
fail, never skip, since nothing else checks the UI in a real browser.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.binaries import REPO_ROOT

UI = REPO_ROOT / "syncer" / "ui"
MODULES = UI / "node_modules"
DRIVER = Path(__file__).resolve().parent / "driver.cjs"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SERIOUS = ("serious", "critical")


def require_browser() -> None:
    """Fail (not skip) when the browser or the UI's npm packages are missing."""
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: run tests/setup as root (apt chromium)")
    if shutil.which("node") is None:
        pytest.fail("node is missing: install Node.js 20 or newer")
    for package in ("playwright-core", "axe-core"):
        if not (MODULES / package).is_dir():
            pytest.fail(f"{MODULES / package} is missing: run tests/setup (npm ci in syncer/ui)")


class Browser:
    """One Chromium page; every method is one command to the driver."""

    def __init__(self) -> None:
        require_browser()
        env = {**os.environ, "SYNCER_UI_MODULES": str(MODULES), "CHROMIUM": CHROMIUM}
        self._proc = subprocess.Popen(
            ["node", str(DRIVER)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True,
        )  # fmt: skip
        self._answer()  # "ready", once Chromium runs

    def _answer(self) -> Any:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise AssertionError(f"the browser driver ended (exit {self._proc.wait()})")
        answer = json.loads(line)
        if not answer["ok"]:
            raise AssertionError(f"browser: {answer['error']}")
        return answer["value"]

    def do(self, op: str, **args: Any) -> Any:
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self._proc.stdin.flush()
        return self._answer()

    # The commands the tests use most, by name.
    def goto(self, url: str) -> None:
        self.do("goto", url=url)

    def click(self, selector: str) -> None:
        self.do("click", selector=selector)

    def fill(self, selector: str, value: str) -> None:
        self.do("fill", selector=selector, value=value)

    def wait_text(self, selector: str, text: str) -> None:
        self.do("wait_text", selector=selector, text=text)

    def text(self, selector: str) -> str:
        return str(self.do("text", selector=selector))

    def enabled(self, selector: str) -> bool:
        return bool(self.do("enabled", selector=selector))

    def login(self, url: str, token: str) -> None:
        """Sign in through the form, by keyboard only: Tab reaches the token field first,
        the token is typed, Enter submits."""
        self.goto(url)
        self.do("wait", selector="#token")
        self.do("press", key="Tab")
        assert self.do("focused") == "input:token", "Tab does not reach the token field"
        self.do("type", text=token)
        self.do("press", key="Enter")
        self.do("wait", selector="header .who")

    def accessibility_problems(self) -> list[dict[str, Any]]:
        """axe-core's serious and critical violations on the page as it is now."""
        found: list[dict[str, Any]] = self.do("axe")
        return [v for v in found if v["impact"] in SERIOUS]

    def page_problems(self) -> list[str]:
        """Errors in the page and resources the Content-Security-Policy refused."""
        return list(self.do("problems"))

    def close(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
