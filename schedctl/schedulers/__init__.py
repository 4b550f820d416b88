"""Schedulers tie triggers, stores and executors together and run the loop."""
