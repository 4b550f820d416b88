"""Crontab files: read them (user and system format), convert them to jobfile specs, write a jobfile.

Used by ``schedctl import`` and by ``run``/``validate`` on a crontab file. It may import
the jobfile, the command runner and the engine; never the state, the service or the CLI.
"""
