"""Benchmarks comparing schedctl's engine with APScheduler 3 in the same run.

``python -m bench --help``; workloads are registered in ``bench.workloads``.
"""
