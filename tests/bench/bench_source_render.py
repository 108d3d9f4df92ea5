"""Benchmark: a no-change Git poll of one repository read by 100 apps, and rendering
1,000 objects (plain YAML with image pinning, and a Helm chart when helm is installed).

Run: ``python -m tests.bench.bench_source_render [--apps 100] [--objects 1000]``. A real
smart-HTTP Git server (``tests.servers.git_http``) counts the requests it serves; the
figures printed are wall time, ls-remote and fetch counts per phase.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from registry import decision
from syncer.config import model
from syncer.render import pipeline, tools
from syncer.source import sources as sources_mod
from tests import binaries
from tests.servers import git_http

DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web-%(n)d, labels: {app: web-%(n)d}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web-%(n)d}}
  template:
    metadata: {labels: {app: web-%(n)d}}
    spec:
      containers:
        - name: web
          image: registry.example.com/team/web:1.0.%(n)d
          ports: [{containerPort: 8080}]
          resources: {limits: {cpu: 500m, memory: 256Mi}}
        - name: proxy
          image: nginx:1.25
"""
CM = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg-%(n)d}\ndata: {n: '%(n)d'}\n"


def timed(fn: Callable[[], object], *, repeat: int = 1) -> tuple[float, object]:
    """Median wall time in ms of ``repeat`` runs, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result


def bench_poll(*, apps: int, work: Path) -> None:
    server = git_http.GitHTTPServer(root=work / "git")
    try:
        repo = server.create_repo("deploy", {"apps/a/cm.yaml": CM % {"n": 0}})
        srcs = [
            model.Source(name=f"app-{i}", git=model.GitSource(url=repo.url, branch="main"))
            for i in range(apps)
        ]
        gs = sources_mod.GitSources(sources_mod.Settings(cache_dir=work / "cache"))

        def phase(label: str, fn: Callable[[], object], repeat: int = 1) -> None:
            server.reset_counts()
            before = gs.counts()
            ms, _ = timed(fn, repeat=repeat)
            after = gs.counts()
            ls = after["ls-remote"] - before["ls-remote"]
            print(
                f"  {label:<46} {ms:9.1f} ms   ls-remote per run {ls // repeat:>4}   "
                f"fetch {server.count('fetch'):>3}   HTTP requests {sum(server.counts.values()):>4}"
            )

        print(f"Git poll, one repository read by {apps} apps (smart HTTP on 127.0.0.1):")
        phase("first poll_all (clone + snapshot)", lambda: gs.poll_all(srcs))
        phase("no-change poll_all (median of 10)", lambda: gs.poll_all(srcs), repeat=10)
        phase(f"no-change, {apps} separate poll() calls", lambda: [gs.poll(s) for s in srcs])
        phase(
            f"no-change, {apps} poll(max_age=60) calls",
            lambda: [gs.poll(s, max_age=60) for s in srcs],
        )

        def concurrent() -> None:
            threads = [threading.Thread(target=gs.poll, args=(s,)) for s in srcs]
            for t in threads:
                t.start()
            for t in threads:
                t.join()

        phase(f"no-change, {apps} concurrent poll() threads", concurrent)
        repo.commit({"apps/a/cm.yaml": CM % {"n": 1}})
        phase("one new commit: poll_all (fetch + snapshot)", lambda: gs.poll_all(srcs))
    finally:
        server.stop()


def bench_render(*, count: int, work: Path) -> None:
    root = work / "repo"
    per_file = 10
    for f in range(count // per_file):
        docs = [
            (DEPLOY if (f * per_file + d) % 2 == 0 else CM) % {"n": f * per_file + d}
            for d in range(per_file)
        ]
        path = root / "app" / f"group-{f // 10:02d}" / f"file-{f:03d}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("---\n".join(docs))
    app = model.App(name="bench", source="repo", path="app", namespace="bench")
    choices = [
        decision.make(
            repository="docker.io/library/nginx", tag="1.27.3", digest="sha256:" + "1" * 64,
            reason="bench", policy="semver:^1.27",
        )
    ]  # fmt: skip
    print(f"Render {count} objects ({count // 2} Deployments, {count // 2} ConfigMaps):")
    ms, result = timed(lambda: pipeline.render(app=app, snapshot=root), repeat=5)
    print(f"  {'plain YAML, no image policies (median of 5)':<50} {ms:9.1f} ms")
    ms, result = timed(lambda: pipeline.render(app=app, snapshot=root, choices=choices), repeat=5)
    rendered = result
    assert isinstance(rendered, pipeline.Rendered)
    print(
        f"  {'plain YAML + pin nginx in every pod (median of 5)':<50} {ms:9.1f} ms   "
        f"{len(rendered.objects)} objects, {len(rendered.image_changes)} image changes"
    )
    helm = binaries.find("helm")
    if not helm:
        print("  helm chart: skipped (helm not installed; run tests/setup)")
        return
    chart = work / "chart" / "app"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: bench\nversion: 1.0.0\n")
    (chart / "values.yaml").write_text(f"count: {count // 2}\n")
    template = "{{- range $n := until (int .Values.count) }}\n---\n%s{{- end }}\n"
    (chart / "templates" / "all.yaml").write_text(
        template % ((DEPLOY % {"n": 0}).replace("-0", "-{{ $n }}") + "---\n"
                    + (CM % {"n": 0}).replace("-0", "-{{ $n }}"))
    )  # fmt: skip
    ms, result = timed(
        lambda: pipeline.render(
            app=app, snapshot=work / "chart", choices=choices, tool_paths=tools.Tools(helm=helm)
        ),
        repeat=3,
    )
    assert isinstance(result, pipeline.Rendered)
    print(
        f"  {'helm template chart (median of 3)':<50} {ms:9.1f} ms   "
        f"{len(result.objects)} objects, {len(result.image_changes)} image changes"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--apps", type=int, default=100)
    parser.add_argument("--objects", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-source-") as tmp:
        (Path(tmp) / "git").mkdir()
        bench_poll(apps=args.apps, work=Path(tmp))
        bench_render(count=args.objects, work=Path(tmp))


if __name__ == "__main__":
    main()
