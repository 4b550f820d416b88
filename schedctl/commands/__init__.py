"""Running one shell command: spawning, output capture, timeouts, process groups, leases.

Holds the command runner, its spec and errors, the lease shim and the function that the
scheduler stores for command jobs. It may import only the engine.
"""
