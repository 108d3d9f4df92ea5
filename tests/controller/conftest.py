"""Fixtures shared by the controller tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from syncer import state


@pytest.fixture
def store() -> Iterator[state.Store]:
    """A fresh state store in memory."""
    s = state.open_store(":memory:")
    yield s
    s.close()
