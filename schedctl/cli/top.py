"""``schedctl top``: a live view of a state file, redrawn every second.

It reads :func:`schedctl.state.topview.top_view`, built from the views that ``list`` and
``status`` read; :mod:`schedctl.cli.topframe` draws it (imported only here, so that
other commands do not pay for rich's live display).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from schedctl.cli.common import open_state, state_options
from schedctl.cli.group import main
from schedctl.clock import SystemClock
from schedctl.errors import SchedctlError

if TYPE_CHECKING:
    from rich.console import RenderableType


@main.command(short_help="Watch live what runs now, what runs next, what ended.")
@state_options
def top(state: str | None, jobfile: str | None) -> None:
    """Watch the scheduler live: what runs now, what runs next, what just ended.

    Redrawn every second: each running command with its attempt, elapsed time,
    pid and last output lines; the next runs; the latest outcomes. Press q or
    Ctrl-C to quit. Without a terminal (piped), one frame is printed.

    \b
    Example:
      schedctl top -f jobs.yaml
    """
    from rich.text import Text

    from schedctl.cli.glyphs import wants_unicode
    from schedctl.cli.topframe import render_frame, run_live
    from schedctl.state.topview import top_view

    store, history = open_state(state, jobfile)
    unicode = wants_unicode(sys.stdout)

    def frame(height: int) -> RenderableType:
        now = SystemClock().now()
        try:
            view = top_view(store, history, upcoming=height, latest=height)
        except SchedctlError as exc:  # a store that fails now may answer at the next frame
            return Text(f"schedctl top: {exc}", style="red")
        return render_frame(view, now, height=height, unicode=unicode)

    run_live(frame, sys.stdout, sys.stdin)


