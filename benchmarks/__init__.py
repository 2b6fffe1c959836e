"""Throughput benchmarks, written as result tables (``python -m benchmarks NAME``).

Benchmarks are measurements, not tests: each one times its work on this machine, prints a table
and saves it as a tidy CSV in a new run folder under ``results/bench_<name>/``.
"""
