"""Benchmark: how long commands that touch no cluster take, beside comparable tools.

Run: ``python -m tests.bench.bench_startup [--runs 5]``.

Each command is run RUNS times as a new process (what a person or a script pays), after
one warm-up run that compiles the bytecode as an installed package has it; the minimum
and median wall time are printed. ``syncer image tags`` and ``skopeo list-tags``
ask the same anonymous ``docker-registry`` on 127.0.0.1 for the same repository;
``syncer --version`` stands beside ``git --version``, ``syncer validate`` beside
nothing (it reads the quick-start config). The last lines list the slowest imports of
``syncer --version`` (``python -X importtime``): what start-up is made of.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.servers import images, registry_fixtures

ROOT = Path(__file__).resolve().parents[2]


def environment(cache: Path) -> dict[str, str]:
    """As an installed syncer runs: with compiled bytecode (pip compiles on install), kept
    under ``cache`` here so the worktree stays clean."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env


def timed(command: list[str], *, runs: int, env: dict[str, str]) -> tuple[float, float]:
    """(min, median) seconds of ``runs`` runs after one warm-up; the command must succeed."""
    subprocess.run(command, capture_output=True, cwd=ROOT, env=env, check=False)
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(
            command, capture_output=True, text=True, cwd=ROOT, env=env, check=False
        )
        seconds.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed: {done.stderr.strip()[:300]}")
    return min(seconds), statistics.median(seconds)


def slowest_imports(count: int, *, env: dict[str, str]) -> list[tuple[int, str]]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "syncer", "--version"],
        capture_output=True, text=True, cwd=ROOT, env=env, check=True,
    )  # fmt: skip
    found = []
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            name = parts[2].strip()
            if "." not in name:  # top-level packages: what each costs in all
                found.append((int(parts[1]), name))
    return sorted(found, reverse=True)[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    syncer = [sys.executable, "-m", "syncer"]
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        registries = registry_fixtures.RegistryFactory(Path(tmp))
        try:
            registry = registries.start("anonymous")
            images.push_image(registry, "team/web", tags=["1.0.0", "1.1.0", "2.0.0"])
            repo = f"{registry.host}/team/web"
            rows = [
                ("syncer --version", [*syncer, "--version"]),
                ("git --version", ["git", "--version"]),
                ("syncer validate (quick start)",
                 [*syncer, "validate", "-c", "examples/quickstart/syncer.yaml"]),
                ("syncer image tags", [*syncer, "image", "tags", repo]),
            ]  # fmt: skip
            if shutil.which("skopeo"):
                rows.append((
                    "skopeo list-tags",
                    ["skopeo", "list-tags", "--tls-verify=false", f"docker://{repo}"],
                ))  # fmt: skip
            print(f"start-up and one-shot commands, {args.runs} runs each (min / median):")
            env = environment(Path(tmp) / "pycache")
            for label, command in rows:
                low, mid = timed(command, runs=args.runs, env=env)
                print(f"  {label:32s} {low * 1000:7.0f} ms / {mid * 1000:7.0f} ms")
            print("slowest top-level imports of `syncer --version` (cumulative):")
            for micros, name in slowest_imports(8, env=env):
                print(f"  {name:32s} {micros / 1000:7.0f} ms")
        finally:
            registries.stop_all()
    print(f"(python {sys.version.split()[0]}, {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
