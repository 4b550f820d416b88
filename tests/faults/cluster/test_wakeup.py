"""Changes made from the command line reaching sleeping nodes (fault table #9 and #11).

A node with nothing due sleeps up to 10 s while its LISTEN connection is healthy: a
``NOTIFY`` sent in the same transaction as a change is what wakes it. So:

* **pause** (#9): once ``schedctl pause`` returns, no node claims the job again, although
  it was due every second. **resume** is where the wake-up shows: the nodes,
  with nothing due, sleep out their 10 s cap unless told, so a resumed job that starts
  on time was announced to them.
* **LISTEN connection killed** (#11): the node reconnects, re-reads the store, and later
  changes reach it at once again.
"""

from __future__ import annotations

from pathlib import Path

from tests.cli.helpers import wait_until
from tests.faults.cluster.harness import (
    Cluster,
    db_now_ms,
    kill_listeners,
    listeners,
    read_ledger,
    runs,
    sql,
    wall,
)

#: Far below the 10 s a node sleeps when nothing is due: only a NOTIFY makes it this quick.
PROMPT = 1.0


def every_second(jobfile, ledger_line: str) -> Path:
    return jobfile(f"""
timezone: UTC
cluster: {{lease: 3s}}
jobs:
  every: {{command: '{ledger_line}', interval: 1s}}
""")


def cli(schedctl, *args: str) -> float:
    result = schedctl(*args)
    assert result.returncode == 0, result.stderr
    return wall()


def pause_holds(schedctl, url: str, ledger: Path, cluster: Cluster) -> None:
    """Pause ``every`` (due every second); no slot may be claimed once the pause returned."""
    wait_until(lambda: read_ledger(ledger), what="a run of every", context=cluster.logs)
    cli(schedctl, "pause", "every", "--state", url)
    paused = db_now_ms(url)
    claimed = {r.run_id for r in runs(url, "every")}  # every claim that committed before the pause
    wait_until(lambda: db_now_ms(url) >= paused + 1500, 5, what="paused slots to pass")
    assert {r.run_id for r in runs(url, "every")} == claimed, "a claim after the pause"
    assert not [s for s in read_ledger(ledger) if s.scheduled_for > paused]


def resume_is_prompt(schedctl, url: str, ledger: Path, cluster: Cluster) -> float:
    """Resume ``every``: its next run must start on time, not at the end of a node's nap."""
    cli(schedctl, "resume", "every", "--state", url)
    [(due,)] = sql(url, "SELECT next_run_time FROM schedctl.jobs WHERE id = 'every'")
    start = wait_until(lambda: [s for s in read_ledger(ledger) if s.scheduled_for >= due], 12,
                       what="the resumed job to run", context=cluster.logs)[0]
    late = start.at - due / 1000
    assert late < PROMPT, f"started {late:.2f} s after its due time: the nodes slept on"
    return late


def test_a_pause_reaches_sleeping_nodes_and_so_does_a_resume(
    cluster: Cluster, jobfile, schedctl, ledger: Path, ledger_line: str, pg_url: str
) -> None:
    cluster.start(every_second(jobfile, ledger_line), pg_url, "n1", "n2")
    pause_holds(schedctl, pg_url, ledger, cluster)
    late = resume_is_prompt(schedctl, pg_url, ledger, cluster)
    print(f"\nresumed job started {late * 1000:.0f} ms after its due time")


def test_a_lost_listen_connection_is_reopened_and_changes_still_reach_the_node(
    cluster: Cluster, jobfile, schedctl, ledger: Path, ledger_line: str, pg_url: str
) -> None:
    [node] = cluster.start(every_second(jobfile, ledger_line), pg_url, "n1")
    wait_until(lambda: listeners(pg_url) == 1, what="the node to listen")
    assert kill_listeners(pg_url) == 1
    pause_holds(schedctl, pg_url, ledger, cluster)  # told while its listener was down
    node.daemon.wait_for_log("Lost the LISTEN connection")
    wait_until(lambda: listeners(pg_url) == 1, what="the node to listen again")
    late = resume_is_prompt(schedctl, pg_url, ledger, cluster)
    print(f"\nafter a reconnect, a resumed job started {late * 1000:.0f} ms after its due time")
