"""Benchmark: Git write-back of one image change into a repository of many apps.

Run: ``python -m tests.bench.bench_write_back [--apps 200] [--rounds 20]``. It serves a
bare repository over the tests' smart-HTTP server with Basic auth, holding ``--apps``
apps (a kustomization and a Deployment each), and writes a new tag of one app back
``--rounds`` times through ``GitSources.push`` with the edit syncer makes
(``syncer.writeback.targets``), then once more with someone else's push racing it.
It prints wall time per write-back and the Git requests one costs.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from syncer import release
from syncer.config import model
from syncer.source import sources as sources_mod
from syncer.writeback import run
from tests.servers import git_http

AUTH = ("bench", "bench-token")
REPO = "registry.example.com/team/app-000"


def files(apps: int) -> dict[str, str]:
    out = {}
    for i in range(apps):
        name = f"app-{i:03d}"
        out[f"apps/{name}/kustomization.yaml"] = (
            f"resources: [deployment.yaml]\nimages:\n  - name: registry.example.com/team/{name}\n"
            '    newTag: "1.0.0"  # set by syncer\n'
        )
        out[f"apps/{name}/deployment.yaml"] = (
            f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}}}\n"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--apps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-wb-"))
    server = git_http.GitHTTPServer(root=tmp / "git", auth=AUTH)
    try:
        repo = server.create_repo("deploy", files(args.apps))
        secrets = {"U": AUTH[0], "P": AUTH[1]}
        sources = sources_mod.GitSources(
            sources_mod.Settings(cache_dir=tmp / "cache", base_dir=tmp),
            resolve_secret=lambda ref, secret=True: secrets[ref.name],
        )
        source = model.Source(
            name="deploy",
            git=model.GitSource(
                url=repo.url, branch="main",
                auth=model.GitAuth(
                    username_from=model.SecretRef("env", "U"),
                    password_from=model.SecretRef("env", "P"),
                ),
            ),
        )  # fmt: skip
        app = model.App(
            name="app-000", source="deploy", path="apps/app-000",
            clusters=model.ClusterSelection(names=("dev",)),
            images=(model.AppImage(repository=REPO, policy=model.ImagePolicy(semver="^1")),),
            write_back=model.WriteBack(kustomization="kustomization.yaml"),
        )  # fmt: skip
        sources.poll(source)  # the controller has the repository cached already
        times = []
        kinds = ("info-refs", "fetch", "push-refs", "push")
        counts = dict.fromkeys(kinds, 0)
        for n in range(args.rounds):
            image = release.Image(
                repository=REPO, tag=f"1.0.{n + 1}", digest="", policy="semver:^1"
            )
            server.reset_counts()
            started = time.perf_counter()
            done = run.write(pusher=sources, source=source, app=app, images=[image])
            times.append(time.perf_counter() - started)
            for kind in kinds:
                counts[kind] += server.count(kind)
            assert done.commit == repo.head(), done
            # The controller's next poll renders the new commit (its snapshot), untimed.
            sources.poll(source)
        server.before_push.append(lambda: repo.commit({"README.md": "raced\n"}))
        image = release.Image(repository=REPO, tag="1.1.0", digest="", policy="semver:^1")
        started = time.perf_counter()
        done = run.write(pusher=sources, source=source, app=app, images=[image])
        raced = time.perf_counter() - started
        print(f"repository: {args.apps} apps, {2 * args.apps} files; {args.rounds} write-backs")
        print(
            f"one write-back (commit + push): p50 {statistics.median(times) * 1000:.0f} ms, "
            f"max {max(times) * 1000:.0f} ms"
        )
        per = ", ".join(f"{k} {v / args.rounds:g}" for k, v in counts.items())
        print(f"Git requests per write-back: {per}")
        print(f"with a racing push: {done.attempts} attempts, {raced * 1000:.0f} ms")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
