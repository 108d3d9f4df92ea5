"""``syncer run -c FILE``: the controller, until SIGTERM/SIGINT.

Registered by ``syncer.cli``. Starts ``syncer.controller.Controller`` (poll jobs, app
queue, resuming any rollout a previous process left open) and the HTTP server
(``syncer.server.http``: API, probes, metrics on ``server.listen``; webhooks on
``server.webhookListen``). On
SIGTERM or SIGINT it stops accepting requests and polls, lets the reconciles in flight
finish (up to ``--grace`` seconds), closes the state file and exits 0.

With ``--leader-elect`` the controller starts once this replica holds the Lease, every
rollout start and cluster write is fenced by ``LeaderElector.fence`` (passed down through
``open_session``), and losing the Lease ends the process (exit 1).

A ``syncer.reload.Watcher`` looks at the config file every ``--reload-interval`` seconds
(and at once on SIGHUP) and hands a changed, valid config to ``Controller.reload_config``,
which composes it with the apps the tenants keep in their own repositories (``appsFrom``).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import threading
from typing import Any

from syncer import controller, errors, logs, state
from syncer import reload as reload_
from syncer.commands import sync as sync_cmd
from syncer.commands import validate as validate_cmd
from syncer.config import loader, model
from syncer.server import http, leader

log = logging.getLogger("syncer.run")

LEADER_LOCK_WAIT = 60.0
"""Seconds a new leader waits for the state file lock (the old leader is finishing)."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run the controller (poll, webhooks, roll out) until stopped",
        description="Run the controller and its HTTP server until SIGTERM/SIGINT.",
        epilog=EXAMPLES,
    )
    parser.add_argument("-c", "--config", default="syncer.yaml", help="config file")
    parser.add_argument(
        "--listen", help="HOST:PORT of the API, metrics and probes (overrides server.listen)"
    )
    parser.add_argument(
        "--webhook-listen",
        help="HOST:PORT of the webhook receivers (overrides server.webhookListen)",
    )
    parser.add_argument(
        "--grace", type=float, default=600.0,
        help="seconds to let in-flight reconciles finish on SIGTERM (default 600)",
    )  # fmt: skip
    parser.add_argument(
        "--reload-interval", type=float, default=reload_.INTERVAL,
        help="seconds between looks at the config file for changes "
        f"(default {reload_.INTERVAL:g}; SIGHUP reloads at once)",
    )  # fmt: skip
    leader.add_flags(parser)
    parser.set_defaults(func=run)


EXAMPLES = """examples:
  # poll, serve webhooks and the API on server.listen, roll out; Ctrl-C stops
  syncer run -c deploy/syncer.yaml
  # on another address, with info logs
  syncer --log-level info run -c deploy/syncer.yaml --listen 127.0.0.1:8080
  # two replicas: one leads (a Lease), the other waits
  syncer run -c /etc/syncer/syncer.yaml --leader-elect
"""


def run(args: argparse.Namespace) -> int:
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal=%s stopping: finishing in-flight work", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    watcher: reload_.Watcher | None = None

    def on_hangup(_signum: int, _frame: object) -> None:
        if watcher is not None:
            watcher.request()

    signal.signal(signal.SIGHUP, on_hangup)
    election = leader.settings_from_flags(args)
    elector: leader.LeaderElector | None = None

    def fence() -> None:
        # Asked before every rollout start and cluster write (leader.LeaderElector.fence):
        # a leader frozen past its Lease writes nothing on waking.
        if elector is None:
            raise errors.Fenced("leader election has not started: writing nothing")
        elector.fence()

    session = controller.open_session(
        args.config, progress=sync_cmd.progress_printer(),
        fence=fence if election is not None else None,
    )  # fmt: skip
    # One controller per state file: a second `syncer run` (or a `sync`) refuses to
    # start. A --leader-elect standby takes the lock only once it leads (see below).
    writer = state.writer_lock(session.config, session.store)
    if election is None:
        try:
            writer.acquire()
        except BaseException:
            session.close()
            raise
    settings = session.config.server
    if args.listen:
        settings = dataclasses.replace(settings, listen=args.listen)
    if args.webhook_listen:
        settings = dataclasses.replace(settings, webhook_listen=args.webhook_listen)
    # With --leader-elect the controller starts only once this replica holds the Lease;
    # losing it ends the process (Kubernetes restarts it as a standby).
    lost = threading.Event()

    def on_lost() -> None:
        if not stop.is_set():  # not our own shutdown releasing the Lease
            lost.set()
            stop.set()

    locked_out = threading.Event()

    def start_leading() -> None:
        # The previous leader lets go of the lock before it releases the Lease; the
        # wait covers a replica not using leader election on the same state file.
        try:
            writer.acquire(wait=LEADER_LOCK_WAIT)
        except state.lock.StateLockedError as err:
            log.error("cannot lead: %s", err)
            locked_out.set()
            stop.set()
            return
        session.controller.start()

    if election is not None:
        elector = leader.elector(
            settings=election, base_dir=session.config.base_dir,
            on_started_leading=start_leading,
            on_stopped_leading=on_lost,
        )  # fmt: skip
    watcher = reload_.Watcher(
        args.config, running=session.config, load=load_checked,
        apply=session.controller.reload_config, interval=args.reload_interval,
    )  # fmt: skip
    session.controller.reload_status = lambda: watcher.status.describe() if watcher else ""
    server = http.HttpServer(
        settings=settings, port=session.controller, base_dir=session.config.base_dir,
        read_secret=session.read_secret, leader=elector,
    )  # fmt: skip
    try:
        server.start()
        if elector is not None:
            elector.start()
        else:
            session.controller.start()
        logs.say(f"controller running, HTTP on {server.url}, webhooks on {server.webhook_url}")
        if not server.users.configured:
            logs.say(
                "no API users (server.users, server.tokenFile): the API, and the CLI's "
                "--server, refuse every request",
                level=logging.WARNING,
            )
        watcher.start()
        while not stop.wait(1.0):
            pass
    finally:
        watcher.stop()
        server.stop()
        session.controller.stop(timeout=args.grace)
        writer.release()
        if elector is not None:
            elector.stop()  # after in-flight work: releases the Lease for the standby
        session.store.close()
    if locked_out.is_set():
        logs.say("another syncer holds the state file; exiting", level=logging.ERROR)
        return 1
    if lost.is_set():
        logs.say("lost leadership; exiting", level=logging.ERROR)
        return 1
    logs.say("stopped")
    return 0


def load_checked(path: str) -> model.Config:
    """The config at ``path`` as ``syncer validate`` checks it; ConfigError when invalid."""
    config = loader.load(path)
    validate_cmd.pipeline_problems(config, file=path)
    return config
