"""Executors run jobs: in a thread pool, a process pool, or inline for debugging.

Engine: may import the engine basics and the job stores' claims; never a product package.
"""
