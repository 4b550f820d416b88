"""Prometheus metrics and ``/healthz`` for ``schedctl run --metrics``, and the same
exposition read from a state store for ``schedctl metrics``.

Counters come from the history (seeded at start, then kept by a history observer),
gauges from the store's index at scrape time. It may import the cluster, the state, the
jobfile, the commands and the engine; never the service or the CLI, and it renders no
tables.
"""
