"""Fixtures of the web UI's tests: a headless Chromium page (``browser``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ui.browser import Browser


@pytest.fixture
def browser() -> Iterator[Browser]:
    page = Browser()
    yield page
    page.close()
