"""The web UI's files on the real HTTP server (``syncer.server.ui``): served at ``/`` on
the API listener from the package's built bundle, with a strict Content-Security-Policy
(no inline script anywhere in the page), long caching for hashed assets and ETags, and
nothing at all when ``server.ui`` is off or on the webhook listener."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from syncer.server import http, ui
from tests.server.conftest import ALL_SECRETS


def assets(page: str) -> list[str]:
    return re.findall(r'(?:src|href)="(assets/[^"]+)"', page)


def test_the_page_and_its_assets_are_served_with_a_strict_policy(
    server: http.HttpServer, session: requests.Session
) -> None:
    page = session.get(f"{server.url}/")
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Cache-Control"] == "no-cache"
    # Every script is a file of this origin: the policy would refuse an inline one.
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, re.S)
    assert scripts and all('src="assets/' in attrs and not body.strip() for attrs, body in scripts)
    assert "http://" not in page.text and "https://" not in page.text  # nothing fetched elsewhere

    found = assets(page.text)
    assert {name.rsplit(".", 1)[1] for name in found} == {"js", "css"}
    for name in found:
        answer = session.get(f"{server.url}/{name}")
        assert answer.status_code == 200, name
        kind = "text/javascript" if name.endswith(".js") else "text/css"
        assert answer.headers["Content-Type"] == f"{kind}; charset=utf-8"
        assert answer.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert answer.content == (ui.DIST / name).read_bytes()
        assert b"https://" not in answer.content.replace(b"https://www.w3.org", b"")

    # Revalidation: the same ETag gets 304 with no body.
    again = session.get(f"{server.url}/", headers={"If-None-Match": page.headers["ETag"]})
    assert again.status_code == 304 and again.content == b""
    head = session.head(f"{server.url}/")
    assert head.status_code == 200 and head.content == b""


def test_api_answers_stay_uncached_and_unknown_paths_are_json(
    server: http.HttpServer, session: requests.Session
) -> None:
    answer = session.get(f"{server.url}/api/v1/openapi.json")
    assert answer.headers["Cache-Control"] == "no-store"
    missing = session.get(f"{server.url}/assets/nothing.js")
    assert missing.status_code == 404 and "error" in missing.json()
    posted = session.post(f"{server.url}/", data=b"")
    assert posted.status_code == 405 and posted.headers["Allow"] == "GET, HEAD, OPTIONS"


def test_no_ui_when_switched_off_or_on_the_webhook_port(
    start_server: Callable[..., http.HttpServer],
    session: requests.Session,
) -> None:
    on = start_server()
    assert session.get(f"{on.webhook_url}/").status_code == 404
    off = start_server(dataclasses.replace(ALL_SECRETS, ui=False))
    answer = session.get(f"{off.url}/")
    assert answer.status_code == 404
    assert answer.json() == {"error": "no such path /"}


def test_a_checkout_without_the_bundle_says_how_to_build_it(tmp_path: Path) -> None:
    with pytest.raises(ui.Missing, match="the web UI is not built"):
        ui.files(tmp_path)
