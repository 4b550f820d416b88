"""Job stores keep jobs and their next run times: in memory, in an SQLite file (one host),
or in PostgreSQL (shared by several schedulers, each run fired by exactly one).

Engine: may import triggers and the basics; never a product package.
"""
