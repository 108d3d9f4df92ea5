"""``syncer state migrate -c FILE (--from SQLITE | --to SQLITE)``: move a state between
its SQLite file and the Kubernetes API.

Registered by ``syncer.cli``. The config's ``state.kubernetes`` says where the
Kubernetes state is; ``--from`` copies a SQLite state file into it (which must be
empty), ``--to`` copies it out into a new SQLite file. Everything the Store holds goes
across with its ids and times (``syncer.state.transfer``); stop the controller first,
so nothing is written meanwhile (the command takes the state's writer lock).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from syncer import errors, state
from syncer.config import loader
from syncer.state import kube, sqlite, transfer

EXAMPLES = """examples:
  # into the Kubernetes state the config names (state.kubernetes), from the old file
  syncer state migrate -c deploy/syncer.yaml --from deploy/syncer-state.db
  # back out, into a new SQLite file
  syncer state migrate -c deploy/syncer.yaml --to /tmp/syncer-state.db
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "state", help="manage the controller's state", description="Manage the state."
    )
    actions = parser.add_subparsers(dest="state_command", metavar="ACTION", required=True)
    migrate = actions.add_parser(
        "migrate",
        help="copy a SQLite state into the Kubernetes state (--from) or out of it (--to)",
        description="Copy the whole state between a SQLite file and the Kubernetes state of "
        "the config (state.kubernetes), losing nothing. The destination must be empty.",
        epilog=EXAMPLES,
    )
    migrate.add_argument("-c", "--config", default="syncer.yaml", help="config file")
    way = migrate.add_mutually_exclusive_group(required=True)
    way.add_argument("--from", dest="from_file", metavar="FILE", help="SQLite state to copy in")
    way.add_argument("--to", dest="to_file", metavar="FILE", help="new SQLite file to copy into")
    migrate.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = loader.load(args.config)
    if config.state.kubernetes is None:
        raise errors.ConfigError(
            [f"{args.config}: state.kubernetes is not set; say where the Kubernetes state is"]
        )
    if args.from_file and not Path(args.from_file).is_file():
        raise errors.ConfigError([f"--from {args.from_file}: no such state file"])
    if args.to_file and Path(args.to_file).exists():
        raise errors.ConfigError([f"--to {args.to_file}: exists; name a new file"])
    store = state.open_kubernetes(config)
    writer = state.writer_lock(config, store)
    try:
        writer.acquire()
        file_store = sqlite.SqliteStore(args.from_file or args.to_file)
        try:
            moved = _move(store, file_store, inward=bool(args.from_file))
        finally:
            file_store.close()
    finally:
        writer.release()
        store.close()
    where = f"{store.where}" if args.from_file else args.to_file
    print(f"migrated {transfer.summary(moved)} into {where}", file=sys.stdout)
    return 0


def _move(
    store: kube.KubeStore, file_store: sqlite.SqliteStore, *, inward: bool
) -> transfer.Snapshot:
    if inward:
        snapshot = transfer.export_sqlite(file_store)
        transfer.import_kube(store, snapshot)
    else:
        snapshot = transfer.export_kube(store)
        transfer.import_sqlite(file_store, snapshot)
    return snapshot
