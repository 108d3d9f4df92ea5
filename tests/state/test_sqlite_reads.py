"""SQLite state on a file: reads go beside a write transaction, not behind it, and see
exactly what was committed before them; a thread's reads inside its own transaction
see what it wrote."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncer.state.sqlite import SqliteStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "state.db")
    yield s
    s.close()


def test_a_read_does_not_wait_for_a_write_in_progress_and_sees_only_what_was_committed(
    store: SqliteStore,
) -> None:
    store.set_error(app="web", cluster="a", stage="apply", message="before")
    inside, finish = threading.Event(), threading.Event()

    def slow_write() -> None:
        with store._tx() as db:
            db.execute("UPDATE errors SET message = 'during' WHERE app = 'web'")
            inside.set()
            finish.wait(10)

    writer = threading.Thread(target=slow_write)
    writer.start()
    try:
        assert inside.wait(5)
        began = time.monotonic()
        (seen,) = store.errors("web")
        assert time.monotonic() - began < 5  # did not wait out the writer's transaction
        assert seen.message == "before"  # nothing uncommitted
    finally:
        finish.set()
        writer.join(10)
    (seen,) = store.errors("web")
    assert seen.message == "during"  # committed before this read began


def test_reads_inside_a_transaction_see_its_own_writes(store: SqliteStore) -> None:
    with store._tx() as db:
        db.execute("INSERT INTO errors VALUES ('web', '', 'apply', 'not yet committed', 0, 1)")
        assert [e.message for e in store.errors("web")] == ["not yet committed"]
    assert [e.message for e in store.errors("web")] == ["not yet committed"]


def test_many_threads_read_and_write_side_by_side(store: SqliteStore) -> None:
    """32 threads each write their own app's error and read it back at once: every
    read sees its own thread's committed write, and nothing is lost."""
    failures: list[str] = []

    def work(n: int) -> None:
        for i in range(20):
            store.set_error(app=f"app-{n}", stage="apply", message=f"m{i}")
            (seen,) = store.errors(f"app-{n}")
            if seen.message != f"m{i}":
                failures.append(f"app-{n}: wrote m{i}, read {seen.message}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert failures == []
    assert all(store.errors(f"app-{n}")[0].message == "m19" for n in range(32))


def test_a_store_in_memory_reads_its_one_connection(tmp_path: Path) -> None:
    """``:memory:`` is a database per connection: it has no read connections."""
    s = SqliteStore(":memory:")
    try:
        s.set_error(app="web", stage="apply", message="m")
        assert [e.message for e in s.errors("web")] == ["m"]
    finally:
        s.close()
