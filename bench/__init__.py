"""Benchmarks: siteserve next to other servers on the same files, in one run, with ratios.

Run from the repository root: ``python -m bench.static`` and ``python -m bench.dynamic``.
See bench/README.md.
"""
