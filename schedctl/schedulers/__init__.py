"""Schedulers tie triggers, stores and executors together and run the loop.

Engine: the top of it; may import triggers, job stores, executors and the basics, never a
product package.
"""
