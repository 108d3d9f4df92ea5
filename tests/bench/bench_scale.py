"""Benchmark: how one ``syncer run`` process grows from 1,000 to 10,000 apps.

Run: ``python -m tests.bench.bench_scale [--apps 1000,2500,5000,10000] [--repos 20]
[--window 300] [--changes 10] [--profile [--no-trace]]``.

For each APPS, a fresh lab (``bench_controller.Lab``: real Git over smart HTTP, a real
token-auth ``docker-registry``, two real test clusters) holds APPS apps spread over REPOS
Git repositories and REPOS image repositories; each app is one tiny object (a suspended
CronJob whose image a semver policy governs, so no pod ever runs) in its repository's
namespace, on both clusters. Every setting is at its shipped default (SQLite state,
``settings.workers`` 32, Git and image polls every 1m, ``driftInterval`` 5m, drift from
watches, cluster ``qps`` automatic), as ``syncer run`` would run with this config (two malloc
arenas, ``syncer.memory``; a 1 ms switch interval, ``syncer.threads``). Printed:

1. start-up: the config opened and the controller started; then the first rollout
   (every app applied and recorded healthy on both clusters, the queue idle);
2. steady state over WINDOW seconds with nothing changing: Git, registry and cluster
   requests per minute, CPU of this process (the controller, plus the clusters' front-door
   proxies and the Git server's handler threads, which live in it too), and its resident
   memory (VmRSS now and at its peak; the lab alone, before the controller, beside it);
3. CHANGES commits to one app each, announced by a signed GitHub push webhook while the
   rest runs (drift checks, polls): the time until both clusters hold the change, p50/p95;
4. a restart on the existing state: until every app is re-checked (the queue idle), and
   every Git and registry request that cost (registry requests by kind: tag lists,
   manifest HEAD/GET, 401s of the token discovery), then apart those that periodic poll
   jobs made when they fell due during the pass (one interval after it polled their
   repository; counted on the jobs' own threads).

``--profile`` measures only where the memory goes, for each APPS: the same lab and config,
traced by ``tracemalloc`` from before the config is opened; after the first rollout (the
queue idle, a garbage collection) it prints the resident memory (before, at the config's
load peak, now), the traced memory that the controller holds per app by component
(``syncer/<package>``, the libraries, the standard library) and its top allocation sites
(file:line) and object types (sampled with ``gc``). Two or more APPS give the per-app
slope between them. Tracing inflates the resident size: ``--no-trace`` measures it alone
(resident memory, objects by type, threads). Steady state, changes and restart are not
run in this mode.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import gc
import hashlib
import hmac
import json
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import requests
import yaml

from syncer import controller, memory, threads
from syncer import images as syncer_images
from syncer.config import model
from syncer.source import cache as source_cache
from tests import bench
from tests.bench import bench_controller as lab_mod
from tests.servers import registry_process

GITHUB_SECRET = "bench-github-secret"

CRONJOB = """\
apiVersion: batch/v1
kind: CronJob
metadata: {name: %(app)s}
spec:
  schedule: "0 3 * * *"
  suspend: true
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
            - name: main
              image: %(image)s:1.0.0
"""


def entry(*, name: str, source: str, repository: str) -> dict[str, Any]:
    """An app with every setting at its default, in its Git repository's namespace."""
    return {
        "name": name, "source": source, "path": f"apps/{name}", "namespace": f"ns-{source}",
        "clusters": ["staging", "prod"],
        "images": [{"repository": repository, "policy": {"semver": "^1.0"}}],
    }  # fmt: skip


def at_defaults(path: Path) -> Path:
    """The lab's config with every setting at its default (poll intervals, workers)."""
    data = yaml.safe_load(path.read_text())
    data.pop("settings", None)
    for source in data["sources"]:
        source["git"].pop("interval", None)
    data["server"]["webhooks"]["github"] = "env:BENCH_GITHUB_SECRET"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def reset_peak() -> None:
    """Start VmHWM over from the current RSS (Linux: write 5 to clear_refs)."""
    # Older kernels refuse: the peak then includes the lab's set-up.
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


class Session:
    """``syncer run`` of one config in this process, timed from opening the config."""

    def __init__(self, path: Path) -> None:
        began = time.monotonic()
        self.cm = lab_mod.running(path)
        self.ctl: controller.Controller = self.cm.__enter__()
        self.opened = time.monotonic() - began
        self.began = began

    def close(self) -> None:
        self.cm.__exit__(None, None, None)


def first_rollout(session: Session, names: list[str], *, lab: lab_mod.Lab, timeout: float) -> float:
    """Seconds from opening the config until every app is recorded healthy on both
    clusters and the queue is idle. Apps are checked in order, each once it is done, so
    the waiting reads little of the state store. The clusters' request logs (kept in
    this process) are emptied meanwhile, so that they do not count as syncer's memory."""
    store = session.ctl.store
    pending = list(names)
    deadline = time.monotonic() + timeout
    while pending:
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out: {len(pending)} apps not rolled out, e.g. {pending[0]}")
        deployed = store.deployments(pending[0])
        if len(deployed) == 2 and all(d.healthy for d in deployed):
            pending.pop(0)
        else:
            for c in lab.clusters:
                c.request_log.clear()
            time.sleep(0.5)
    lab_mod.wait_until(lambda: session.ctl.wait_idle(1.0), timeout=timeout, what="the queue idle")
    return time.monotonic() - session.began


def steady(lab: lab_mod.Lab, *, window: float) -> dict[str, float]:
    lab.git.reset_counts()
    registry0 = len(lab.registry.served())
    for c in lab.clusters:
        c.request_log.clear()
    cpu0 = time.process_time()
    time.sleep(window)
    cpu = time.process_time() - cpu0
    minute = 60.0 / window
    watches = sum(1 for c in lab.clusters for r in list(c.request_log) if "watch=" in r.query)
    return {
        "git": sum(lab.git.counts.values()) * minute,
        "ls_remote": lab.git.count("ls-refs") * minute,
        "fetch": lab.git.count("fetch") * minute,
        "registry": (len(lab.registry.served()) - registry0) * minute,
        "cluster": sum(len(c.request_log) for c in lab.clusters) * minute,
        "watch": watches * minute,
        "writes": sum(c.request_log.writes() for c in lab.clusters) * minute,
        "cpu": cpu / window * 100.0,
    }


def github_push(*, port: int, url: str) -> None:
    body = json.dumps({"ref": "refs/heads/main", "repository": {"clone_url": url}}).encode()
    signature = hmac.new(GITHUB_SECRET.encode(), body, hashlib.sha256).hexdigest()
    answer = requests.post(
        f"http://127.0.0.1:{port}/webhooks/github",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": "push",
            "X-Hub-Signature-256": f"sha256={signature}",
        },
        timeout=10,
    )
    answer.raise_for_status()


def progress(figures: dict[str, Any]) -> None:
    """What is measured so far (a long run shows its figures as they come)."""
    print(f"  ... {figures}", file=sys.stderr, flush=True)


def changes(
    lab: lab_mod.Lab, *, repos: list[Any], entries: list[dict[str, Any]], count: int, port: int
) -> list[float]:
    """Seconds from each webhook to both clusters holding the changed object."""
    seconds = []
    step = max(1, len(entries) // count)
    for n in range(count):
        app = entries[(n * step) % len(entries)]
        name, index = app["name"], int(app["source"].removeprefix("repo"))
        image = app["images"][0]["repository"]
        text = marked(name=name, image=image, mark=f"change-{n}")
        repos[index].commit({f"apps/{name}/all.yaml": text}, message=f"change {name}")
        started = time.monotonic()
        github_push(port=port, url=repos[index].url)

        def applied(name: str = name, namespace: str = app["namespace"], n: int = n) -> bool:
            for c in lab.clusters:
                obj = c.get("batch/v1", "CronJob", name, namespace=namespace) or {}
                marks = obj.get("metadata", {}).get("annotations") or {}
                if marks.get("bench/mark") != f"change-{n}":
                    return False
            return True

        lab_mod.wait_until(applied, timeout=900, what=f"change {n} of {name} applied")
        seconds.append(time.monotonic() - started)
        time.sleep(1.0)  # changes a second apart, not one burst
    return seconds


def marked(*, name: str, image: str, mark: str) -> str:
    """The app's CronJob with an annotation that the bench waits for."""
    text = CRONJOB % {"app": name, "image": image}
    annotated = f"metadata: {{name: {name}, annotations: {{bench/mark: {mark}}}}}"
    return text.replace(f"metadata: {{name: {name}}}", annotated)


class DuePolls:
    """The periodic poll jobs that run while entered, and the registry requests and
    ls-remotes they make (counted on the job's own thread): a restart's counts include
    them, and say apart what the polls that fell due during the pass cost."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self._job = threading.local()
        self._patches = contextlib.ExitStack()

    def _add(self, what: str) -> None:
        with self._lock:
            self.counts[what] += 1

    def _job_of(self, kind: str, original: Any) -> Any:
        def poll(ctl: controller.Controller, key: str) -> None:
            self._add(f"{kind} polls")
            self._job.active = True
            try:
                original(ctl, key)
            finally:
                self._job.active = False

        return poll

    def _counted(self, what: str, original: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            if getattr(self._job, "active", False):
                self._add(what)
            return original(*args, **kwargs)

        return call

    def _registry_request(self, original: Any) -> Any:
        def count(host: str, kind: str) -> None:
            # Tokens come from the token server, which the registry's log does not show.
            if kind != "token" and getattr(self._job, "active", False):
                self._add("registry")
            original(host, kind)

        return count

    def __enter__(self) -> DuePolls:
        patch = self._patches.enter_context
        ctl = controller.Controller
        patch(mock.patch.object(ctl, "_poll_image", self._job_of("image", ctl._poll_image)))
        patch(mock.patch.object(ctl, "_poll_git", self._job_of("git", ctl._poll_git)))
        ls_remote = source_cache.RepoCache.ls_remote
        patch(mock.patch.object(source_cache.RepoCache, "ls_remote",
                                self._counted("ls_remote", ls_remote)))  # fmt: skip
        patch(mock.patch.object(syncer_images, "_count_request",
                                self._registry_request(syncer_images._count_request)))  # fmt: skip
        return self

    def __exit__(self, *exc: object) -> None:
        self._patches.close()


def registry_kinds(served: list[registry_process.ServedRequest]) -> dict[str, int]:
    """Registry requests by what they were: tag lists, manifest HEAD/GET, refused
    (401: the token discovery), other."""
    kinds: collections.Counter[str] = collections.Counter()
    for r in served:
        if r.status == 401:
            kinds["401"] += 1
        elif r.path.split("?")[0].endswith("/tags/list"):
            kinds["tags"] += 1
        elif "/manifests/" in r.path:
            kinds[f"manifest {r.method}"] += 1
        else:
            kinds[f"{r.method} {r.path.split('?')[0]}"] += 1
    return dict(kinds.most_common())


def restart(lab: lab_mod.Lab, path: Path, *, timeout: float) -> dict[str, Any]:
    """A restart on the existing state, until every app is re-checked (the queue idle):
    every Git and registry request from the config's opening on, and apart, those that
    periodic polls made (jobs that fell due during the pass, one interval after it
    polled their repository)."""
    lab.git.reset_counts()
    registry0 = len(lab.registry.served())
    with DuePolls() as due:
        session = Session(path)
        try:
            lab_mod.wait_until(
                lambda: session.ctl.wait_idle(1.0), timeout=timeout, what="the start-up pass"
            )
            took = time.monotonic() - session.began
            served = lab.registry.served()[registry0:]
            return {
                "opened": session.opened,
                "pass": took,
                "ls_remote": lab.git.count("ls-refs"),
                "fetch": lab.git.count("fetch"),
                "registry": len(served),
                "registry_kinds": registry_kinds(served),
                "due": dict(due.counts),
            }
        finally:
            session.close()


@contextlib.contextmanager
def scale_lab(
    count: int, *, repos: int
) -> Iterator[tuple[lab_mod.Lab, list[dict[str, Any]], list[Any], Path, int]]:
    """A lab holding COUNT apps over REPOS repositories: the lab, the apps' config entries,
    the Git repositories, the config file (every setting at its default) and its webhook
    port."""
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        port = lab_mod.free_port()
        lab = lab_mod.Lab(Path(tmp), port=port)
        try:
            entries, git_repos = lab_mod.app_repos(
                lab, apps=count, repos=repos, entry=entry, manifest=CRONJOB
            )
            path = at_defaults(lab.config(apps=entries, repos=git_repos, port=port))
            yield lab, entries, git_repos, path, port
        finally:
            lab.close()


def run(count: int, *, repos: int, window: float, changes_count: int) -> dict[str, Any]:
    with scale_lab(count, repos=repos) as (lab, entries, git_repos, path, port):
        names = [e["name"] for e in entries]
        lab_rss = status_mib("VmRSS")
        reset_peak()
        figures: dict[str, Any] = {"apps": len(names), "lab_rss": lab_rss}
        session = Session(path)
        try:
            figures["opened"] = session.opened
            figures["first"] = first_rollout(session, names, lab=lab, timeout=4 * 3600)
            progress(figures)
            figures["steady"] = steady(lab, window=window)
            figures["rss"] = status_mib("VmRSS")
            figures["peak"] = status_mib("VmHWM")
            progress(figures)
            figures["jobs"] = len(session.ctl._jobs.ids())
            figures["changes"] = changes(
                lab, repos=git_repos, entries=entries, count=changes_count, port=port
            )
        finally:
            session.close()
        figures["restart"] = restart(lab, path, timeout=4 * 3600)
    return figures


ROOT = str(Path(__file__).resolve().parents[2])


def site(trace: tracemalloc.Traceback) -> tuple[str, str]:
    """(component, file:line) of one allocation: the innermost frame in syncer's own
    code, else "lab" when the bench or its servers made it, else the innermost frame."""
    for frame in trace:  # innermost first
        if frame.filename.startswith(ROOT + "/syncer/"):
            rel = frame.filename[len(ROOT) + 1 :]
            package = "/".join(rel.split("/")[:2]).removesuffix(".py")
            return package, f"{rel}:{frame.lineno}"
    for frame in trace:
        if frame.filename.startswith(ROOT + "/tests/"):
            return "lab", f"{frame.filename[len(ROOT) + 1 :]}:{frame.lineno}"
    first = trace[0]
    component = "libraries" if "site-packages" in first.filename else "python"
    short = first.filename.split("site-packages/")[-1].rsplit("/lib/", 1)[-1]
    return component, f"{short}:{first.lineno}"


def type_counts() -> collections.Counter[str]:
    """Objects the garbage collector tracks, by type (containers only: dict, list,
    instances; strings and numbers are not tracked and show in the sites instead)."""
    return collections.Counter(type(o).__name__ for o in gc.get_objects())


def traced_mib() -> float:
    """What tracemalloc itself holds (left out of the resident figures)."""
    return tracemalloc.get_tracemalloc_memory() / 2**20 if tracemalloc.is_tracing() else 0.0


def profile(count: int, *, repos: int, trace: bool) -> dict[str, Any]:
    """Where the memory of COUNT apps goes after their first rollout (see ``--profile``)."""
    with scale_lab(count, repos=repos) as (lab, entries, _repos, path, _port):
        names = [e["name"] for e in entries]
        del entries
        gc.collect()
        if trace:
            tracemalloc.start(16)
        before_types = type_counts()
        before = tracemalloc.take_snapshot() if trace else None
        rss0 = status_mib("VmRSS") - traced_mib()
        reset_peak()
        if trace:
            tracemalloc.reset_peak()
        session = Session(path)
        figures: dict[str, Any] = {"apps": len(names), "rss_before": rss0}
        try:
            figures["opened"] = session.opened
            figures["open_peak_traced"] = tracemalloc.get_traced_memory()[1] / 2**20
            figures["open_peak_rss"] = status_mib("VmHWM") - traced_mib()
            figures["first"] = first_rollout(session, names, lab=lab, timeout=4 * 3600)
            for c in lab.clusters:
                c.request_log.clear()
            gc.collect()
            after = tracemalloc.take_snapshot() if trace else None
            figures["rss"] = status_mib("VmRSS") - traced_mib()
            figures["peak"] = status_mib("VmHWM") - traced_mib()
            figures["types"] = type_counts() - before_types
            figures["threads"] = collections.Counter(
                t.name.rstrip("0123456789_-") for t in threading.enumerate()
            )
        finally:
            session.close()
            tracemalloc.stop()
    by_component: collections.Counter[str] = collections.Counter()
    by_site: collections.Counter[str] = collections.Counter()
    by_line: collections.Counter[str] = collections.Counter()
    for stat in after.compare_to(before, "traceback") if after and before else []:
        component, where = site(stat.traceback)
        by_component[component] += stat.size_diff
        by_site[where] += stat.size_diff
        first = stat.traceback[0]
        by_line[f"{first.filename.split('site-packages/')[-1]}:{first.lineno} <- {where}"] += (
            stat.size_diff
        )
    figures["components"] = by_component
    figures["sites"] = by_site
    figures["lines"] = by_line
    figures["traced"] = trace
    return figures


def report_profile(f: dict[str, Any], *, top: int = 30) -> None:
    apps = f["apps"]
    traced = sum(v for k, v in f["components"].items() if k != "lab")
    print(f"\n{apps} apps, after the first rollout ({f['first']:.0f} s; config opened and "
          f"controller started in {f['opened']:.1f} s):")  # fmt: skip
    print(f"  RSS before the config {f['rss_before']:7.1f} MiB, at the load peak "
          f"{f['open_peak_rss']:.1f} MiB (traced peak {f['open_peak_traced']:.1f} MiB), "
          f"now {f['rss']:.1f} MiB (peak {f['peak']:.1f}): "
          f"{(f['rss'] - f['rss_before']) * 1024 / apps:.1f} KiB per app")  # fmt: skip
    if not f["traced"]:
        print(f"  threads: {dict(f['threads'].most_common())}")
        return
    print("  (traced: tracemalloc's own memory is left out, but tracing inflates the resident "
          "size; --no-trace for RSS alone)")  # fmt: skip
    print(f"  traced, held by the controller: {traced / 2**20:.1f} MiB, "
          f"{traced / 1024 / apps:.2f} KiB per app; by component (KiB per app):")  # fmt: skip
    for component, size in f["components"].most_common():
        if abs(size) >= 1024:
            print(f"    {component:32s} {size / 1024 / apps:8.2f}")
    print(f"  top {top} allocation sites (KiB per app):")
    for where, size in f["sites"].most_common(top):
        print(f"    {size / 1024 / apps:8.2f}  {where}")
    print(f"  top {top} allocating lines, with the syncer site that led there (KiB per app):")
    for where, size in f["lines"].most_common(top):
        print(f"    {size / 1024 / apps:8.2f}  {where}")
    print(f"  threads: {dict(f['threads'].most_common())}")
    print("  objects tracked by gc, new per app (top 20):")
    for name, n in f["types"].most_common(20):
        print(f"    {n / apps:8.2f}  {name}")


def slope(a: dict[str, Any], b: dict[str, Any]) -> None:
    """Per-app growth between two profiles, by component."""
    apps = b["apps"] - a["apps"]
    print(f"\nslope from {a['apps']} to {b['apps']} apps: RSS "
          f"{(b['rss'] - b['rss_before'] - a['rss'] + a['rss_before']) * 1024 / apps:.1f} "
          f"KiB per app; traced by component (KiB per app):")  # fmt: skip
    for component in sorted(b["components"], key=lambda c: -b["components"][c]):
        size = b["components"][component] - a["components"].get(component, 0)
        if abs(size) >= 1024:
            print(f"    {component:32s} {size / 1024 / apps:8.2f}")


def report(f: dict[str, Any], *, repos: int, window: float) -> None:
    s, r, lat = f["steady"], f["restart"], f["changes"]
    print(f"\n{f['apps']} apps (one CronJob each), {repos} Git repositories, {repos} image "
          f"repositories, 2 clusters, SQLite state, every setting at its default:")  # fmt: skip
    print(f"  config opened, controller started  {f['opened']:8.1f} s")
    settings, cluster = model.Settings(), model.Cluster(name="defaults")
    print(f"  first rollout (all apps healthy)   {f['first']:8.1f} s  (workers "
          f"{settings.workers}, qps {bench.qps_text(cluster.qps)} per cluster)")  # fmt: skip
    print(f"  steady state, {window:.0f} s counted (Git/image polls 1m, driftInterval 5m, "
          f"watches):")  # fmt: skip
    print(f"    Git requests/min                 {s['git']:8.1f}  (ls-remote {s['ls_remote']:.1f},"
          f" fetch {s['fetch']:.1f})")  # fmt: skip
    print(f"    registry requests/min            {s['registry']:8.1f}")
    print(f"    cluster requests/min             {s['cluster']:8.1f}  (WATCH {s['watch']:.1f}, "
          f"writes {s['writes']:.1f})")  # fmt: skip
    print(f"    CPU (this process)               {s['cpu']:8.1f} % of one core")
    print(f"    scheduled jobs                   {f['jobs']:8d}")
    print(f"  RSS after steady state             {f['rss']:8.0f} MiB  (peak {f['peak']:.0f}; "
          f"lab alone {f['lab_rss']:.0f})")  # fmt: skip
    print(f"  webhook -> applied, {len(lat)} changes     p50 {statistics.median(lat):6.2f} s  "
          f"p95 {lab_mod.percentile(lat, 0.95):6.2f} s  max {max(lat):.2f} s")  # fmt: skip
    kinds = ", ".join(f"{kind} {n}" for kind, n in r["registry_kinds"].items())
    print(f"  restart on existing state          {r['pass']:8.1f} s until every app re-checked "
          f"(config opened in {r['opened']:.1f} s); {r['ls_remote']} ls-remote, "
          f"{r['fetch']} fetch, {r['registry']} registry requests ({kinds or 'none'})")  # fmt: skip
    due = r["due"]
    print(f"    of which periodic polls that fell due during it: {due.get('git polls', 0)} Git "
          f"({due.get('ls_remote', 0)} ls-remote), {due.get('image polls', 0)} image "
          f"({due.get('registry', 0)} registry requests)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", default="1000,2500,5000,10000",
                        help="comma-separated app counts, one run each")  # fmt: skip
    parser.add_argument("--repos", type=int, default=20)
    parser.add_argument("--window", type=float, default=300.0,
                        help="seconds of steady state counted (default 5m)")  # fmt: skip
    parser.add_argument("--changes", type=int, default=10)
    parser.add_argument("--profile", action="store_true",
                        help="only where the memory goes after the first rollout")  # fmt: skip
    parser.add_argument("--no-trace", action="store_true",
                        help="with --profile: resident memory only, no tracemalloc")  # fmt: skip
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    memory.limit_arenas()  # as `syncer run` does first (the lab's threads share them too)
    threads.shorten_switches()  # as `syncer run` does first
    registry_process.free_port()  # fail early when the registry binary is missing
    os.environ["BENCH_GITHUB_SECRET"] = GITHUB_SECRET
    profiles: list[dict[str, Any]] = []
    for count in (int(n) for n in args.apps.split(",")):
        if args.profile:
            profiles.append(profile(count, repos=args.repos, trace=not args.no_trace))
            report_profile(profiles[-1])
            if len(profiles) > 1:
                slope(profiles[0], profiles[-1])
            continue
        figures = run(count, repos=args.repos, window=args.window, changes_count=args.changes)
        report(figures, repos=args.repos, window=args.window)
    print(f"({os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f} at the end)")


if __name__ == "__main__":
    bench.stop_on_sigterm()
    main()
