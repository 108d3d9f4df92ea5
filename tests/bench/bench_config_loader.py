"""How long loading and validating a large config takes.

Run: ``python -m tests.bench.bench_config_loader``.

Not collected by pytest. Prints seconds per load and per app for configs of growing size,
so a change that makes validation quadratic shows up as a per-app figure that grows.
"""

from __future__ import annotations

import time

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


def main() -> None:
    print(f"{'apps':>6} {'lines':>7} {'seconds':>9} {'ms/app':>8}")
    for apps in (10, 100, 1000, 3000):
        text = make_config(apps)
        start = time.perf_counter()
        config = loader.loads(text, filename="bench.yaml", base_dir="/tmp")
        elapsed = time.perf_counter() - start
        assert len(config.apps) == apps
        print(f"{apps:>6} {text.count(chr(10)):>7} {elapsed:>9.3f} {elapsed / apps * 1000:>8.3f}")


if __name__ == "__main__":
    main()
