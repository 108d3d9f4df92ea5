"""Benchmarks: run on demand (python -m tests.bench.NAME); not collected by pytest."""
