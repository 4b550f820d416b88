"""``schedctl metrics``: the Prometheus exposition of a state store, without a listener."""

from __future__ import annotations

import click

from schedctl.cli.common import open_state, state_options
from schedctl.cli.group import main


@main.command("metrics", short_help="Print the Prometheus metrics of a state store.")
@state_options
@click.option("-o", "--output", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write to FILE, replacing it whole (for node_exporter's textfile "
                   "collector), instead of printing.")
def metrics_command(state: str | None, jobfile: str | None, output: str | None) -> None:
    """Print the Prometheus metrics of a state store, as 'schedctl run --metrics' serves them.

    For node_exporter's textfile collector, or a host with no open port. Counts cover
    the whole history; on a PostgreSQL store, every node's runs, each with its 'node'
    label. Alert and store error counts belong to a running scheduler and are left out.

    \b
    Examples:
      schedctl metrics -f jobs.yaml
      schedctl metrics -f jobs.yaml -o /var/lib/prometheus/node-exporter/schedctl.prom
    """
    from schedctl.metrics.exposition import store_exposition, write_atomically

    store, _ = open_state(state, jobfile)
    text = store_exposition(store)
    if output:
        write_atomically(output, text)
    else:
        click.echo(text.decode(), nl=False)
