"""Benchmarks and tools, run from the checkout: `scripts/bench <name>` runs
`python -m scripts.bench_<name>`."""
