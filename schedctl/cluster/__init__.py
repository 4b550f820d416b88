"""Several ``schedctl run`` nodes on one PostgreSQL store: membership, lease keeping, reaping.

It may import the state, the jobfile, the commands and the engine; never the service or
the CLI.
"""
