"""``syncer run`` in the test process: the controller of a config and its HTTP server.

The end-to-end scenarios (``tests/e2e``) and the controller benchmark start syncer this
way, so that a test can call the controller directly and over HTTP alike; on exit the
server stops, reconciles in flight finish and the state file is closed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from syncer import controller, state
from syncer.server import http


@contextlib.contextmanager
def serve(config: Path, *, stop_timeout: float = 30.0) -> Iterator[controller.Controller]:
    """The controller of ``config`` and its HTTP server, running until the block ends."""
    session = controller.open_session(str(config))
    state.serve_reads(session.store)  # as syncer run does
    server = http.HttpServer(
        settings=session.config.server,
        port=session.controller,
        base_dir=session.config.base_dir,
        read_secret=session.read_secret,
    )
    server.start()
    session.controller.start()
    try:
        yield session.controller
    finally:
        server.stop()
        session.controller.stop(timeout=stop_timeout)
        session.store.close()
