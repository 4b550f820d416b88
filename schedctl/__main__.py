"""``python -m schedctl``: the same as the ``schedctl`` command."""

from schedctl.cli import main

main()
