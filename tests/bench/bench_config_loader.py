"""How long loading and validating a large config takes.

Run: ``python -m tests.bench.bench_config_loader [--memory] [--apps 10,100,1000,3000]``.

Not collected by pytest. Prints seconds per load and per app for configs of growing size,
so a change that makes validation quadratic shows up as a per-app figure that grows.

``--memory`` prints instead what a load costs in memory, traced by ``tracemalloc``: the
peak while the file is read and checked (YAML nodes, marks, the model being built) and
what the loaded config keeps, per app, with the allocation sites (file:line) that keep
the most. The resident size of a process rarely shrinks after a peak, so both count.
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc

from syncer.config import loader


def make_config(apps: int) -> str:
    lines = ["sources:"]
    lines += [
        f"  - {{name: s{i}, git: {{url: https://git.example.com/r{i}.git}}}}" for i in range(10)
    ]
    lines += ["clusters:"]
    lines += [f"  - {{name: c{i}, labels: {{env: e{i % 3}}}}}" for i in range(20)]
    lines += ["apps:"]
    for i in range(apps):
        lines += [
            f"  - name: app{i}",
            f"    source: s{i % 10}",
            "    clusters: {selector: {env: e1}}",
            "    images:",
            f"      - {{repository: registry.example.com/team/app{i}, policy: {{semver: '^1.2'}}}}",
            "    gateway: {requireResources: true, maxCpu: 500m}",
        ]
    lines += ["pipelines:"]
    for i in range(apps // 10):
        lines += [
            f"  - app: app{i}",
            "    stages:",
            "      - {name: first, clusters: [c1]}",
            "      - {name: rest, clusters: [c4, c7], after: first, soak: 10m}",
        ]
    return "\n".join(lines) + "\n"


def memory(apps: int, *, top: int = 8) -> None:
    text = make_config(apps)
    gc.collect()
    tracemalloc.start(8)
    before = tracemalloc.take_snapshot()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    config = loader.loads(text, filename="bench.yaml", base_dir="/tmp")
    peak = tracemalloc.get_traced_memory()[1] - base
    gc.collect()
    kept = tracemalloc.get_traced_memory()[0] - base
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    assert len(config.apps) == apps
    print(
        f"{apps:>6} apps: peak {peak / 2**20:7.1f} MiB ({peak / 1024 / apps:5.1f} KiB/app), "
        f"kept {kept / 2**20:6.1f} MiB ({kept / 1024 / apps:5.2f} KiB/app); kept most at:"
    )
    for stat in after.compare_to(before, "lineno")[:top]:
        frame = stat.traceback[0]
        print(f"    {stat.size_diff / 1024 / apps:6.2f} KiB/app  {frame.filename}:{frame.lineno}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", default="10,100,1000,3000")
    parser.add_argument("--memory", action="store_true", help="memory, not time")
    args = parser.parse_args()
    counts = [int(n) for n in args.apps.split(",")]
    if args.memory:
        for apps in counts:
            memory(apps)
        return
    print(f"{'apps':>6} {'lines':>7} {'seconds':>9} {'ms/app':>8}")
    for apps in counts:
        text = make_config(apps)
        start = time.perf_counter()
        config = loader.loads(text, filename="bench.yaml", base_dir="/tmp")
        elapsed = time.perf_counter() - start
        assert len(config.apps) == apps
        print(f"{apps:>6} {text.count(chr(10)):>7} {elapsed:>9.3f} {elapsed / apps * 1000:>8.3f}")


if __name__ == "__main__":
    main()
