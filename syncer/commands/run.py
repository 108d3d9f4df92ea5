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

With ``--shards N`` every replica acts, on the apps of the shards it holds
(``syncer.server.shards.ShardSet``, Leases in the state namespace): the state must be
in Kubernetes, the state's single-writer Lease gives way to the shard Leases (each app's
state writes carry and check its shard's term), and cluster writes are fenced per shard.

A ``syncer.reload.Watcher`` looks at the config file every ``--reload-interval`` seconds
(and at once on SIGHUP) and hands a changed, valid config to ``Controller.reload_config``,
which composes it with the apps the tenants keep in their own repositories (``appsFrom``).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import socket
import threading
from typing import Any

from syncer import controller, errors, logs, memory, state, threads
from syncer import reload as reload_
from syncer.apply import client as kube_client
from syncer.commands import sync as sync_cmd
from syncer.commands import validate as validate_cmd
from syncer.config import loader, model
from syncer.server import http, leader, shards

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
    add_shard_flags(parser)
    parser.set_defaults(func=run)


def add_shard_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("shards (every replica acts on a share of the apps)")
    group.add_argument(
        "--shards", type=int, default=0, metavar="N",
        help="split the apps over N shards, each held by one replica through a Lease in "
        "the state namespace (needs state.kubernetes; every replica the same N)",
    )  # fmt: skip
    group.add_argument(
        "--shard-identity", default="",
        help="this replica's identity (default: $POD_NAME, else the host name)",
    )  # fmt: skip
    group.add_argument(
        "--shard-advertise-url", default="",
        help="this replica's HTTP address for the others (e.g. http://$(POD_IP):8080): "
        "API actions on an app are forwarded to its shard's holder, webhooks to every replica",
    )  # fmt: skip
    group.add_argument("--shard-lease-duration", type=float, default=15.0, metavar="S")
    group.add_argument("--shard-renew-deadline", type=float, default=10.0, metavar="S")
    group.add_argument("--shard-retry-period", type=float, default=2.0, metavar="S")


def shard_settings(args: argparse.Namespace, config: model.Config) -> shards.Settings | None:
    """The shard settings of the flags, or None without ``--shards``; ConfigError for
    combinations that cannot work."""
    if not args.shards:
        return None
    if args.leader_elect:
        raise errors.ConfigError(
            ["--shards and --leader-elect exclude each other: with shards every replica acts "
             "on its share of the apps; drop --leader-elect"]
        )  # fmt: skip
    if not state.in_kubernetes(config):
        raise errors.ConfigError(
            [f"--shards: replicas share their state only in Kubernetes: set state.kubernetes "
             f"in {args.config} (a SQLite file belongs to one process)"]
        )  # fmt: skip
    cluster, namespace = state.kubernetes_location(config)
    try:
        return shards.Settings(
            shards=args.shards, namespace=namespace, cluster=cluster,
            identity=args.shard_identity or os.environ.get("POD_NAME", "") or socket.gethostname(),
            lease_duration=args.shard_lease_duration, renew_deadline=args.shard_renew_deadline,
            retry_period=args.shard_retry_period, advertise_url=args.shard_advertise_url,
        )  # fmt: skip
    except ValueError as err:
        raise errors.ConfigError([str(err)]) from err


EXAMPLES = """examples:
  # poll, serve webhooks and the API on server.listen, roll out; Ctrl-C stops
  syncer run -c deploy/syncer.yaml
  # on another address, with info logs
  syncer --log-level info run -c deploy/syncer.yaml --listen 127.0.0.1:8080
  # two replicas: one leads (a Lease), the other waits
  syncer run -c /etc/syncer/syncer.yaml --leader-elect
"""


def run(args: argparse.Namespace) -> int:
    memory.limit_arenas()  # before any thread allocates: see syncer.memory
    threads.shorten_switches()  # see syncer.threads
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
    shard_set: shards.ShardSet | None = None
    if args.shards:
        sharding = shard_settings(args, loader.load(args.config))
        assert sharding is not None
        # Named in every cluster request: the audit log says which replica wrote what.
        kube_client.set_identity(sharding.identity)

    def fence() -> None:
        # Asked before every rollout start and cluster write (leader.LeaderElector.fence,
        # shards.ShardSet.fence): a replica frozen past its Lease writes nothing on waking.
        if shard_set is not None:
            shard_set.fence()
            return
        if elector is None:
            raise errors.Fenced("leader election has not started: writing nothing")
        elector.fence()

    session = controller.open_session(
        args.config, progress=sync_cmd.progress_printer(),
        fence=fence if election is not None or args.shards else None,
    )  # fmt: skip
    state.serve_reads(session.store)
    # One controller per state file: a second `syncer run` (or a `sync`) refuses to
    # start. A --leader-elect standby takes the lock only once it leads (see below).
    writer = state.writer_lock(session.config, session.store) if not args.shards else None
    if args.shards:
        try:
            shard_set = _shard_set(args, session)
        except BaseException:
            session.close()
            raise
    elif election is None and writer is not None:
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
        assert writer is not None  # shards use no leader election
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
        read_secret=session.read_secret, leader=elector or shard_set,
    )  # fmt: skip
    try:
        server.start()
        if elector is not None:
            elector.start()
        else:
            session.controller.start()
            if shard_set is not None:
                shard_set.start()
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
        if writer is not None:
            writer.release()
        if elector is not None:
            elector.stop()  # after in-flight work: releases the Lease for the standby
        if shard_set is not None:
            shard_set.stop()  # after in-flight work: the others take the shards at once
        session.store.close()
    if locked_out.is_set():
        logs.say("another syncer holds the state file; exiting", level=logging.ERROR)
        return 1
    if lost.is_set():
        logs.say("lost leadership; exiting", level=logging.ERROR)
        return 1
    logs.say("stopped")
    return 0


def _shard_set(args: argparse.Namespace, session: controller.Session) -> shards.ShardSet:
    """The replica's ``ShardSet`` (not started), wired to the controller and the store."""
    settings = shard_settings(args, session.config)
    assert settings is not None
    client = shards.connect(settings=settings, base_dir=session.config.base_dir)
    try:
        # Without Lease RBAC nothing could ever be held: say so now, naming what to grant.
        try:
            client.list(selector=f"{shards.GROUP_LABEL}={settings.prefix}")
        except errors.PermanentError as err:
            raise errors.PermanentError(
                f"shard Leases {settings.namespace}/{settings.shard_lease(0)}…"
                f"{settings.shard_lease(settings.shards - 1)} and "
                f"{settings.namespace}/{settings.replica_lease(settings.identity)} on cluster "
                f"{settings.cluster.name}: {err}"
            ) from err
        _refuse_single_writer(session)
    except BaseException:
        client.close()
        raise
    shard_set = shards.ShardSet(
        client=client, settings=settings, on_change=session.controller.shards_changed
    )
    session.controller.shard(shard_set)
    store = session.store
    if isinstance(store, state.kube.KubeStore):
        store.shard(stamp=shard_set.stamp, owns=shard_set.owns, working=shard_set.working)
    return shard_set


def _refuse_single_writer(session: controller.Session) -> None:
    """Shard Leases replace the state's single-writer Lease: nobody may hold that one
    (a `syncer run` without --shards, a `syncer sync`) while shards are in use."""
    cluster, namespace = state.kubernetes_location(session.config)
    writer = state.kubelock.KubeStateLock(
        cluster=cluster, namespace=namespace, base_dir=session.config.base_dir
    )
    try:
        holder = writer.holder()
    finally:
        writer.release()
    if holder:
        raise state.lock.StateLockedError(
            f"another syncer ({holder}) is writing this Kubernetes state alone ({writer.where}); "
            "stop it before starting replicas with --shards"
        )


def load_checked(path: str) -> model.Config:
    """The config at ``path`` as ``syncer validate`` checks it; ConfigError when invalid."""
    config = loader.load(path)
    validate_cmd.pipeline_problems(config, file=path)
    return config
