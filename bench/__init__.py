"""Krafa benchmarks: `python -m bench [--quick] [--runs N] [--only KEY,...]` (see bench/README.md)."""
