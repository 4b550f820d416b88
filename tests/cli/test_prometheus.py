"""End to end with a real Prometheus server (Debian's ``prometheus`` package): it scrapes a
running ``schedctl run --metrics`` and answers for ``schedctl_runs_total`` through its
HTTP API, as a dashboard or an alert rule would ask."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.helpers import read_runs, wait_until
from tests.cli.test_metrics import metrics_url
from tests.prerequisites import need

PROMETHEUS = shutil.which("prometheus")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Any]:
    """Starts Prometheus scraping one target every 200 ms; returns start(target) -> API URL."""
    need("prometheus")  # skipped without it, failed under CI (tests/prerequisites.py)
    started: list[subprocess.Popen[bytes]] = []
    log = tmp_path / "prometheus.log"

    def start(target: str) -> str:
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 200ms\n  scrape_timeout: 200ms\n"
            "scrape_configs:\n  - job_name: schedctl\n"
            f"    static_configs:\n      - targets: ['{target}']\n")
        listen = f"127.0.0.1:{free_port()}"
        with log.open("wb") as out:
            started.append(subprocess.Popen(
                [str(PROMETHEUS), f"--config.file={config}", f"--web.listen-address={listen}",
                 f"--storage.tsdb.path={tmp_path / 'tsdb'}", "--log.level=warn"],
                stdout=out, stderr=out, stdin=subprocess.DEVNULL))
        return f"http://{listen}"

    start.log = lambda: log.read_text(errors="replace") if log.exists() else ""  # type: ignore[attr-defined]
    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def query(api: str, expression: str) -> list[dict[str, Any]]:
    """The instant vector Prometheus returns for ``expression``; [] until it can answer."""
    url = f"{api}/api/v1/query?{urllib.parse.urlencode({'query': expression})}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            answer = json.load(response)
    except OSError:  # not listening yet
        return []
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def test_prometheus_scrapes_run_and_answers_for_runs_total(
    jobfile, scheduler, state: Path, prometheus
) -> None:
    path = jobfile("state: state.db\njobs:\n  tick:\n    command: 'true'\n    interval: 0.2s\n")
    daemon = scheduler(path, "--metrics", "127.0.0.1:0")
    target = metrics_url(daemon).removeprefix("http://").removesuffix("/metrics")
    api = prometheus(target)

    expression = 'schedctl_runs_total{job_id="tick",outcome="success"} >= 3'
    [sample] = wait_until(lambda: query(api, expression), timeout=30,
                          what=f"Prometheus to answer {expression}", context=prometheus.log)
    labels = sample["metric"]
    assert (labels["job"], labels["job_id"], labels["instance"]) == ("schedctl", "tick", target)
    recorded = sum(run.state == "success" for run in read_runs(state, "tick"))
    assert 3 <= float(sample["value"][1]) <= recorded  # scraped a moment ago: at most as many
    [up] = query(api, 'up{job="schedctl"}')
    assert up["value"][1] == "1"
