"""The markdown table: absolute figures for both engines, their ratio, the goal and verdict."""

from __future__ import annotations

from collections.abc import Callable

from bench.harness import Row

FORMATS: dict[str, Callable[[float], str]] = {
    "ms": lambda v: f"{v:.2f} ms" if v < 100 else f"{v:,.0f} ms",
    "s": lambda v: f"{v:.3f} s" if v < 10 else f"{v:,.1f} s",
    "µs": lambda v: f"{v:.1f} µs" if v < 100 else f"{v:,.0f} µs",
    "runs/s": lambda v: f"{v:,.0f}/s",
    "MB": lambda v: f"{v:,.0f} MB",
    "x": lambda v: f"{v:.2f}×",
    "/min": lambda v: f"{v:,.1f}/min",
    "CPU-s/min": lambda v: f"{v:.4f} s/min",
    "ms/1k": lambda v: f"{v:,.1f} ms" if v < 10_000 else f"{v / 1000:,.1f} s",
}


def render_table(rows: list[Row], libs: tuple[str, ...]) -> str:
    compare = "apscheduler" in libs
    header = ["workload", "metric", "schedctl"]
    if compare:
        header += ["APScheduler 3", "schedctl/APS"]
    header += ["goal", "met"]
    lines = [_line(header), _line(["---"] * len(header))]
    for row in rows:
        fmt = FORMATS.get(row.unit) or _plain(row.unit)
        cells = [row.workload, row.metric, row.schedctl.show(fmt)]
        if compare:
            ratio = row.ratio
            cells += [row.apscheduler.show(fmt), "—" if ratio is None else f"{ratio:.3g}"]
        cells += [row.goal or "(info)", _verdict(row.met)]
        lines.append(_line(cells))
    notes = [f"- {row.workload}, {row.metric}: {row.note}" for row in rows if row.note]
    if notes:
        lines += ["", *notes]
    return "\n".join(lines)


def _plain(unit: str) -> Callable[[float], str]:
    return lambda v: f"{v:.4g} {unit}"


def _verdict(met: bool | None) -> str:
    return "—" if met is None else "yes" if met else "**NO**"


def _line(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"
