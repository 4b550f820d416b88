"""The state file as the product sees it: which store a jobfile uses, syncing the jobfile
into it, the run history, the run lock, and the read-only views the CLI renders.

It may import the jobfile, the commands and the engine; never the cluster, the service or
the CLI.
"""
