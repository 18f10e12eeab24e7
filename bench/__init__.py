"""Benchmarks (`make bench`). Results go to docs/PERFORMANCE.md."""
