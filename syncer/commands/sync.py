"""``syncer sync -c FILE [APP ...]``: one full reconcile pass now, then exit.

Registered by ``syncer.cli``. Polls every source and registry afresh, makes releases
and rolls them out through ``syncer.controller`` (the same code ``syncer run`` uses),
recording everything in the state file. A cluster that cannot be reached (no
kubeconfig, API down) is left out of the pass and planned instead: what would be
applied is printed, with a sentence saying what is missing. Exit 0 when every app
reached its clusters and is healthy with every input read, 1 otherwise (a registry that
did not answer included: the app is ``DEGRADED``). A failed cluster is printed with its
reason (``errors`` per cluster in ``-o json``). Ctrl-C: see ``Interrupts`` (exit 130).
A sync holds the state file's lock (``syncer.state.lock``) for its duration.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from syncer import controller, errors, output, state
from syncer.commands import backend, common
from syncer.notify import worker as notify_worker
from syncer.reconcile import plan as plan_

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sync",
        help="reconcile every app once, then exit",
        description="Poll Git and registries, roll out new releases to every cluster, "
        "wait for health (rolling back on failure), then exit; non-zero if any app failed.",
        epilog=EXAMPLES,
    )
    backend.add_flags(parser)
    common.add_app_arguments(parser, command="sync", many=True)
    output.add_output_flag(parser)
    parser.set_defaults(func=run)


EXAMPLES = """examples:
  # every app, once: exit 0 when all reached their clusters and are healthy, else 1
  syncer sync -c deploy/syncer.yaml
  # two apps only
  syncer sync -c deploy/syncer.yaml web api
  # for scripts: the outcome per app and cluster
  syncer sync -c deploy/syncer.yaml web -o json | jq '.[] | {app, ok, clusters}'
"""


def progress_printer(stream: Any = None) -> Callable[[str], None]:
    """Progress lines on stderr when it is a terminal; silent otherwise (logs suffice)."""
    out = stream or sys.stderr
    if not getattr(out, "isatty", lambda: False)():
        return lambda _text: None

    def show(text: str) -> None:
        out.write(f"  ... {text}\n")
        out.flush()

    return show


class Interrupts:
    """Ctrl-C during a sync: the first lets the rollouts in flight finish (apps not yet
    started are skipped), the second stops waiting and exits 130 at once. Stopping
    mid-rollout is safe: what was decided is in the state file before it is applied, so
    the next ``sync`` or ``run`` carries it out."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.requested = threading.Event()
        self._previous: Any = None

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def _on_sigint(self, _signum: int, _frame: object) -> None:
        if not self.requested.is_set():
            self.requested.set()
            self.stream.write(
                "interrupt: finishing the rollout in flight; press Ctrl-C again to stop waiting\n"
            )
            self.stream.flush()
            return
        self.stream.write(
            "interrupt: stopped waiting; the next `syncer sync` or `syncer run` "
            "resumes the rollout\n"
        )
        self.stream.flush()
        sys.stdout.flush()
        # Worker threads may be blocked in a health wait; the state file is crash-safe.
        os._exit(EXIT_INTERRUPTED)


def run(args: argparse.Namespace) -> int:
    if backend.is_remote(args):
        return _run_remote(args)
    session = controller.open_session(backend.config_path(args), progress=progress_printer())
    writer = lock_state(session)
    interrupts = Interrupts()
    try:
        names = select_apps(session.config, args.app)
        # Each cluster is probed once, whatever the number of apps on it.
        missing = {c.name: session.parts.check_cluster(c) for c in session.config.clusters}
        workers = max(1, session.config.settings.workers)
        # One read round for the whole pass: every app's ownership reads on a cluster
        # share one LIST per kind instead of one per app, kind and namespace.
        with (
            interrupts,
            session.parts.read_round(),
            concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool,
        ):
            results = list(
                pool.map(lambda name: _sync_app(session, name, missing, interrupts), names)
            )
        if interrupts.requested.is_set():
            output.emit(results, fmt=args.output, text=_text)
            return EXIT_INTERRUPTED
        if not args.app:
            # A full pass also collects apps that left the config (see `syncer history`).
            results += [r.to_dict() for r in session.controller.collect_removed()]
        output.emit(results, fmt=args.output, text=_text)
        return 0 if all(entry["ok"] for entry in results) else EXIT_FAILED
    finally:
        flush_notifications(session)
        session.close()
        writer.release()


def _run_remote(args: argparse.Namespace) -> int:
    """Ask the running syncer to reconcile the apps now; it answers what it scheduled
    (``syncer status --server`` shows the outcome)."""
    target = backend.open_backend(args, write=True)
    try:
        names = args.app or [a["name"] for a in target.get("apps")["apps"]]
        results = [target.post(f"apps/{name}/sync") for name in dict.fromkeys(names)]
    finally:
        target.close()
    output.emit(results, fmt=args.output, text=scheduled_text)
    return 0


def scheduled_text(answers: list[dict[str, Any]] | dict[str, Any]) -> str:
    """What a running syncer accepted to do (a sync, a rollback), one line per app."""
    lines = []
    for a in answers if isinstance(answers, list) else [answers]:
        what = f"rollback to {a['to'][:12]}" if a.get("to") else "sync"
        stage = f" (stage {a['stage']})" if a.get("stage") else ""
        lines.append(f"{a['app']}: {what}{stage} scheduled; `syncer status` shows how it goes")
    return "\n".join(lines)


def flush_notifications(session: controller.Session) -> None:
    """Send the notifications of what this command did before it exits (a few
    seconds at most); what a failing receiver did not take waits in the state file for
    the next `syncer sync` or `syncer run`. Only commands holding the writer lock send:
    never two processes at once."""
    if session.controller.notifier is None:
        return
    try:
        left = session.controller.notifier.drain(timeout=notify_worker.FLUSH)
    except errors.SyncerError as err:
        print(f"syncer: notifications not sent: {err}", file=sys.stderr)
        return
    if left:
        print(
            f"syncer: {left} notification(s) not delivered yet (see the log); the next "
            "`syncer sync` or `syncer run` sends them",
            file=sys.stderr,
        )


def lock_state(session: controller.Session) -> state.lock.StateLock | state.kubelock.KubeStateLock:
    """Take the state's writer lock (see ``syncer.state.lock``, ``syncer.state.kubelock``),
    then add the tenants' own apps to the session (``Session.include_tenant_apps``), or
    close and raise."""
    writer = state.writer_lock(session.config, session.store)
    try:
        writer.acquire()
    except BaseException:
        session.close()
        raise
    try:
        session.include_tenant_apps()
    except BaseException:
        session.close()
        writer.release()
        raise
    return writer


def _sync_app(
    session: controller.Session, name: str, missing: dict[str, str], interrupts: Interrupts
) -> dict[str, Any]:
    """Reconcile ``name`` on its reachable clusters; plan it for the others."""
    entry: dict[str, Any] = {"app": name}
    if interrupts.requested.is_set():
        entry.update({"ok": False, "release": "", "clusters": {},
                      "message": "interrupted: not synced"})  # fmt: skip
        return entry
    clusters = [c.name for c in session.controller.reconciler.clusters_of(name)]
    reachable = frozenset(c for c in clusters if not missing.get(c))
    session.controller.note_unreachable(name, clusters={c: missing[c] for c in clusters})
    if reachable:
        (outcome,) = session.controller.sync_all(apps=[name], only=reachable)
        entry.update(outcome.to_dict())
        errors_ = failure_reasons(session.store, name, entry["clusters"])
        if errors_:
            entry["errors"] = errors_
        rejected = session.store.rejected(name)
        if entry["release"] in rejected:
            # The newest release was rolled back from: say what runs instead.
            entry["rejected"] = rejected[entry["release"]]
            entry["running"] = sorted({d.release_id for d in session.store.deployments(name)})
    else:
        entry.update(
            {"ok": False, "release": "", "clusters": {},
             "message": "no cluster reachable: planned only, nothing applied"}
        )  # fmt: skip
    offline = sorted(c for c in clusters if missing.get(c))
    if offline:
        report = plan_.plan_app(
            config=session.config, parts=session.parts, store=session.store,
            name=name, only=set(offline),
        )  # fmt: skip
        entry["planned"] = report.to_dict()
        entry["ok"] = False
    return entry


HEALTHY_STATES = frozenset({"healthy"})


def failure_reasons(store: Any, app: str, clusters: dict[str, str]) -> dict[str, str]:
    """Cluster -> why it failed (``stage: message``), for clusters not healthy.

    The reconcile records the reason of a cluster's failure in the state file
    (``Store.errors``); the outcome only names the state reached.
    """
    failed = {c for c, s in clusters.items() if s not in HEALTHY_STATES}
    if not failed:
        return {}
    return {
        e.cluster: f"{e.stage}: {one_line(e.message)}"
        for e in store.errors(app)
        if e.cluster in failed
    }


def one_line(text: str) -> str:
    """``text`` on one line (gateway violations and API errors span several)."""
    return "; ".join(part.strip() for part in text.splitlines() if part.strip())


def select_apps(config: Any, wanted: list[str] | None) -> list[str]:
    from syncer import errors

    names = [a.name for a in config.apps]
    if not wanted:
        return names
    unknown = [w for w in wanted if w not in names]
    if unknown:
        raise errors.ConfigError(
            [f"APP {u}: no such app in the config (apps: {', '.join(names) or 'none'})"
             for u in unknown]
        )  # fmt: skip
    return list(dict.fromkeys(wanted))


def _text(results: list[dict[str, Any]]) -> str:
    lines: list[str] = []
    for entry in results:
        reached = entry.get("clusters", {}).values()
        if entry.get("ok"):
            mark = "ok"
        elif entry.get("outages") and all(s in HEALTHY_STATES for s in reached):
            mark = "DEGRADED"  # applied and healthy, but an input (a registry) was down
        elif entry.get("planned") and not entry.get("clusters"):
            mark = "NOT APPLIED"  # nothing could be reached: it was planned instead
        else:
            mark = "FAILED"
        release = (entry.get("release") or "")[:12]
        head = f"{entry['app']}: {output.state(mark)}"
        if release:
            head += f" release {release}"
        if entry.get("rejected") is not None and entry.get("ok"):
            running = ", ".join(r[:12] for r in entry.get("running", [])) or "nothing"
            head = (
                f"{entry['app']}: ok, runs {running} ({release} not rolled out: "
                f"{entry['rejected']}; a newer commit or image, or `rollback --to`, "
                "rolls out again)"
            )
        elif entry.get("message"):
            head += f": {entry['message']}"
        lines.append(head)
        reasons = entry.get("errors", {})
        for cluster, reached in sorted(entry.get("clusters", {}).items()):
            reason = reasons.get(cluster)
            where = f"  cluster {cluster}: {output.state(reached)}"
            lines.append(where + (f" ({reason})" if reason else ""))
        planned = entry.get("planned")
        if planned:
            lines.extend("  " + line for line in plan_text(planned))
    return "\n".join(lines)


def plan_text(report: dict[str, Any]) -> list[str]:
    """The human form of one ``AppPlan`` (shared with ``syncer plan``)."""
    import yaml

    lines: list[str] = []
    if report.get("error"):
        lines.append(f"error: {report['error']}")
        return lines
    origin = report.get("tree") or f"commit {report['commit'][:7]}"
    lines.append(f"release {report['release'][:12]} ({origin})")
    for image in report.get("images", []):
        lines.append(f"image {image['ref']}: {image['reason']}")
    for note in report.get("notes", []):
        lines.append(f"note: {note}")
    lines += write_back_text(report.get("writeBack"))
    for c in report.get("clusters", []):
        if c.get("error"):
            lines.append(f"cluster {c['cluster']}: {c['error']}")
            continue
        if not c["reachable"]:
            lines.append(f"cluster {c['cluster']}: {c['missing']}: planned only, nothing applied")
            lines.append(f"cluster {c['cluster']}: would apply {len(c['objects'])} objects:")
            lines.append("---")
            for obj in c["objects"]:
                lines.extend(yaml.safe_dump(obj, sort_keys=False).rstrip().splitlines())
                lines.append("---")
            continue
        summary = ", ".join(f"{n} {k}" for k, n in c["summary"].items() if n)
        lines.append(f"cluster {c['cluster']}: {summary or 'no changes'}")
        if c.get("gate"):
            lines.append(f"cluster {c['cluster']}: not rolled out by a sync now: {c['gate']}")
        if c.get("diff"):
            lines.extend(output.diff_line(d) for d in c["diff"].rstrip().splitlines())
    return lines


def write_back_text(found: dict[str, Any] | None) -> list[str]:
    """What ``plan`` says a write-back would commit (nothing without ``writeBack``)."""
    if not found:
        return []
    if found.get("error"):
        return [f"write-back to {found['branch']}: {found['error']}"]
    if not found["lines"]:
        return [f"write-back to {found['branch']}: Git names these images already"]
    return [f"write-back to {found['branch']} would change:"] + [
        f"  {line}" for line in found["lines"]
    ]
