"""Executors run jobs: in a thread pool or a process pool."""
