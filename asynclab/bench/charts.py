"""Charts sized for slides (16:9, large type), in PNG and SVG, with a colour-blind-safe palette.

Throughput vs users per variant with each variant's ceiling dashed in its colour; p50 and p99
latency vs users; the parity slide (FastAPI ÷ Node and ÷ Go on each route, the tie band
shaded); the connections slide (the most users each variant held, and its memory per 1,000).
Colours are Okabe-Ito; every variant also has its own marker, so the charts read in grey too. A
series measured with wrk rather than Locust is dotted and says so in its label.
"""

from __future__ import annotations

import math
import textwrap
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator

from asynclab.bench.verdicts import TIE_TOLERANCE, TIMES, Cell, Verdict

OKABE_ITO = ["#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
VARIANT_STYLE: dict[str, tuple[str, str]] = {
    "fastapi-async": ("#0072B2", "o"),
    "flask-sync": ("#D55E00", "s"),
    "fastapi-def": ("#009E73", "^"),
    "flask-gthread": ("#E69F00", "D"),
    "flask-gevent": ("#CC79A7", "v"),
    "fastapi-workers": ("#56B4E9", "P"),
    # The two granian variants share a colour, as both are the same server; markers differ.
    "flask-granian": ("#000000", "X"),
    "fastapi-granian": ("#000000", "*"),
    # The reference services: one colour each (their variants differ by marker).
    "node-single": ("#009E73", "h"),
    "node-cluster": ("#009E73", "p"),
    "go-single": ("#56B4E9", "d"),
    "go-multi": ("#56B4E9", ">"),
}
# x0.3 and x0.7 too: most ratios of the parity chart lie between x0.2 and x1.5.
RATIO_TICKS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5, 10)
# What a series' dashed line is, when all its cells have one kind of ceiling.
CEILING_WORDS: dict[str | None, str] = {"cpu": "measured CPU capacity", "users": "users' bound"}
DPI = 144
SIZE = (1920 / DPI, 1080 / DPI)  # a full-HD slide; SVG keeps the same 16:9 proportions
STYLE: Any = {  # matplotlib types rcParams keys as literals; Any keeps this table plain
    "font.size": 18,
    "axes.titlesize": 24,
    "axes.titleweight": "bold",
    "axes.labelsize": 20,
    "legend.fontsize": 16,
    "xtick.labelsize": 16,
    "ytick.labelsize": 16,
    "lines.linewidth": 3,
    "lines.markersize": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "svg.hashsalt": "asynclab",  # stable SVG ids, so a rebuilt report diffs cleanly
}


def style(variant: str, index: int) -> tuple[str, str]:
    return VARIANT_STYLE.get(variant, (OKABE_ITO[index % len(OKABE_ITO)], "o"))


def _by_variant(cells: list[Cell]) -> dict[str, list[Cell]]:
    """Series by label: a variant, or a variant and its generator when that is not Locust."""
    out: dict[str, list[Cell]] = defaultdict(list)
    for cell in sorted(cells, key=lambda c: (c.tool != "locust", c.users)):
        out[cell.label].append(cell)
    return out


def _line(series: list[Cell]) -> str:
    return "-" if series[0].tool == "locust" else ":"


def _users_axis(ax: Any, users: list[int]) -> None:
    levels = sorted(set(users))
    if len(levels) > 2 and levels[-1] / max(levels[0], 1) > 8:
        ax.set_xscale("log", base=2)
    ax.set_xticks(levels, [str(u) for u in levels])
    ax.minorticks_off()
    ax.set_xlabel("concurrent users (closed loop)")


def _legend(fig: Any, ax: Any) -> None:
    """Inside the axes while it fits; below them past six entries (five variants, each with a
    ceiling, would hide the points)."""
    if len(ax.get_legend_handles_labels()[0]) > 6:
        fig.legend(loc="outside lower center", ncols=3, frameon=False, fontsize=14)
    else:
        ax.legend(loc="best", frameon=False)


def _save(fig: Any, out_dir: Path, name: str) -> list[Path]:
    paths = [out_dir / f"{name}.png", out_dir / f"{name}.svg"]
    fig.savefig(paths[0], dpi=DPI)
    fig.savefig(paths[1])
    return paths


def throughput_chart(cells: list[Cell], title: str, out_dir: Path, name: str) -> list[Path]:
    with matplotlib.rc_context(STYLE):
        # Figure, not pyplot: no global figure state and no GUI backend, safe in any process.
        fig = Figure(figsize=SIZE, layout="constrained")
        ax = fig.subplots()
        for i, (variant, series) in enumerate(_by_variant(cells).items()):
            colour, marker = style(series[0].variant, i)
            users = [c.users for c in series]
            median = [c.rps.median for c in series]
            err = [[c.rps.median - c.rps.low for c in series],
                   [c.rps.high - c.rps.median for c in series]]  # fmt: skip
            ax.errorbar(users, median, yerr=err, color=colour, marker=marker, capsize=6,
                        linestyle=_line(series), label=variant)  # fmt: skip
            ceil = [(c.users, c.ceiling_rps) for c in series if c.ceiling_rps]
            if ceil:
                # A CPU figure is measured in the same run, not predicted: say which it is; an
                # external target's is only what its users allow.
                kinds = {c.ceiling_kind for c in series if c.ceiling_rps}
                what = CEILING_WORDS.get(kinds.pop() if len(kinds) == 1 else None, "ceiling")
                ax.plot([u for u, _ in ceil], [r for _, r in ceil], color=colour,
                        linestyle="--", linewidth=2.5, marker="_", markersize=40,
                        label=f"{variant} {what}")  # fmt: skip
        flagged = [c for c in cells if not c.judged]
        if flagged:
            ax.plot([c.users for c in flagged], [c.rps.median for c in flagged], color="black",
                    marker="x", markersize=22, linestyle="none",
                    label="not judged: every run flagged")  # fmt: skip
        _users_axis(ax, [c.users for c in cells])
        ax.set_ylabel("successful requests per second")
        tops = [c.rps.high for c in cells] + [c.ceiling_rps or 0 for c in cells]
        ax.set_ylim(0, max(tops) * 1.15 or 1)  # headroom: points and ceilings stay visible
        ax.set_title(textwrap.fill(title, 60, break_on_hyphens=False), loc="left")
        _legend(fig, ax)
        return _save(fig, out_dir, name)


def latency_chart(cells: list[Cell], title: str, out_dir: Path, name: str) -> list[Path]:
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=SIZE, layout="constrained")
        axes = fig.subplots(1, 2, sharey=True)
        for ax, field, label in ((axes[0], "p50_ms", "p50"), (axes[1], "p99_ms", "p99")):
            for i, (variant, series) in enumerate(_by_variant(cells).items()):
                colour, marker = style(series[0].variant, i)
                points = [(c.users, getattr(c, field)) for c in series if getattr(c, field)]
                if points:
                    ax.plot([u for u, _ in points], [v for _, v in points], color=colour,
                            marker=marker, linestyle=_line(series), label=variant)  # fmt: skip
            _users_axis(ax, [c.users for c in cells])
            ax.set_yscale("log")
            # Plain numbers at 1-2-5 steps (20, 50, 200), not 2 x 10^1, on the log axis.
            ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
            ax.set_title(f"{label} latency", loc="left", fontsize=20)
        axes[0].set_ylabel("milliseconds (log scale)")
        axes[0].legend(loc="best", frameon=False)
        fig.suptitle(
            textwrap.fill(title, 60, break_on_hyphens=False),
            x=0.01,
            ha="left",
            fontsize=24,
            fontweight="bold",
        )
        return _save(fig, out_dir, name)


def parity_chart(
    verdicts: list[Verdict], routes: dict[str, str], title: str, out_dir: Path, name: str
) -> list[Path]:
    """FastAPI ÷ each reference on each route (``routes``: scenario -> label, top to bottom).

    A point per verdict with its range over the repetitions, on a log scale (x0.5 and x2 are as
    far from a tie); the ±15% tie band shaded. A verdict measured with wrk says so beside its
    ratio; one that could not be judged is a hollow grey point, pinned to the edge (with an
    arrow) when it lies beyond what the judged ones span.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    references = list(dict.fromkeys(v.baseline.variant for v in verdicts))
    order = [s for s in routes if any(v.lesson.scenario == s for v in verdicts)]
    drawn = [v for v in verdicts if not math.isnan(v.ratio)]  # NaN: nothing succeeded
    spans = [x for v in drawn if v.judged for x in (v.ratio_low, v.ratio, v.ratio_high)]
    lo, hi = min([1 / 1.3, *spans]) / 1.25, max([1.3, *spans]) * 1.25
    with matplotlib.rc_context(STYLE | {"axes.grid.axis": "x"}):
        fig = Figure(figsize=SIZE, layout="constrained")
        ax: Any = fig.subplots()
        ax.axvspan(1 / (1 + TIE_TOLERANCE), 1 + TIE_TOLERANCE, color="#999999", alpha=0.2,
                   label=f"a tie (±{TIE_TOLERANCE:.0%})")  # fmt: skip
        ax.axvline(1, color="#666666", linewidth=1.5)
        step = 0.6 / max(1, len(references))
        for r, reference in enumerate(references):
            colour, marker = style(reference, r)
            offset = ((len(references) - 1) / 2 - r) * step  # the first reference on top
            mine = {v.lesson.scenario: v for v in drawn if v.baseline.variant == reference}
            ax.plot([], [], color=colour, marker=marker, markersize=16, linestyle="none",
                    label=f"FastAPI ÷ {reference}")  # fmt: skip
            for y, scenario in enumerate(order):
                v = mine.get(scenario)
                if v is None:
                    continue
                pos = len(order) - 1 - y + offset
                edge = colour if v.judged else "#777777"
                x = min(max(v.ratio, lo * 1.08), hi)  # an off-scale point stays whole
                low, high = max(min(v.ratio_low, v.ratio), lo), min(max(v.ratio_high, v.ratio), hi)
                ax.errorbar([x], [pos], xerr=[[x - low], [high - x]], color=edge, marker=marker,
                            markerfacecolor=colour if v.judged else "none", markersize=16,
                            capsize=8, linestyle="none")  # fmt: skip
                note = f"{TIMES}{v.ratio:.2f}" + ("" if v.tool == "locust" else f" ({v.tool})")
                if not v.judged:
                    note += " not judged"
                if x != v.ratio:  # off the scale: say which way
                    note = ("\u2190 " if v.ratio < lo else "\u2192 ") + note
                ax.annotate(note, (high, pos), xytext=(10, 0), textcoords="offset points",
                            va="center", fontsize=16, color=edge)  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlim(lo, hi * 1.6)  # room for the labels right of the points
        ticks = _ratio_ticks(lo, hi)
        ax.set_xticks(ticks, [f"{TIMES}{t:g}" for t in ticks])
        ax.minorticks_off()
        ax.set_yticks(range(len(order)), [routes[s] for s in reversed(order)])
        ax.set_ylim(-0.6, len(order) - 0.4)
        ax.set_xlabel("FastAPI's throughput ÷ the reference's (log scale)")
        for x, text, align in ((0.01, "\u2190 FastAPI slower", "left"),
                               (0.99, "FastAPI faster \u2192", "right")):  # fmt: skip
            ax.text(x, 0.01, text, transform=ax.transAxes, ha=align, va="bottom",
                    fontsize=16, color="#555555")  # fmt: skip
        fig.suptitle(textwrap.fill(title, 64, break_on_hyphens=False), x=0.01, ha="left",
                     fontsize=24, fontweight="bold")  # fmt: skip
        fig.legend(loc="outside lower center", ncols=len(references) + 1, frameon=False)
        return _save(fig, out_dir, name)


def _ratio_ticks(lo: float, hi: float) -> list[float]:
    """Ratio ticks that do not crowd: 1-2-5 steps over a wide span, finer over a narrow one."""
    steps = RATIO_TICKS if hi / lo <= 12 else (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10)
    return [t for t in steps if lo <= t <= hi]


@dataclass(frozen=True)
class LoadPoint:
    """One load of the open-loop chart: the open loop's percentiles and the closed loop's p99."""

    load: int  # percent of the ceiling
    p50: float | None
    p99: float
    p99_low: float
    p99_high: float
    p999: float | None
    closed_p99: float | None
    judged: bool


def open_loop_chart(
    panels: dict[str, list[LoadPoint]], title: str, out_dir: Path, name: str
) -> list[Path]:
    """Latency percentiles vs offered load, one panel per variant (log scale, shared).

    The open loop's p50, p99 (with its range over the repetitions) and p99.9, in the variant's
    colour; the closed loop's p99 at the same load in grey, dotted: the gap between the two is
    the tail a closed loop hides. A load that could not be judged is a hollow point.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    names = list(panels)
    cols = min(len(names), 3) or 1
    rows = math.ceil(len(names) / cols) or 1
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=SIZE, layout="constrained")
        axes = fig.subplots(rows, cols, sharey=True, squeeze=False)
        for i, ax in enumerate(axes.flat):
            if i >= len(names):
                ax.set_visible(False)
                continue
            variant, series = names[i], panels[names[i]]
            colour, marker = style(variant, i)
            loads = [p.load for p in series]
            for field, label, line, width in (("p50", "p50", "-", 1.5), ("p99", "p99", "-", 3),
                                              ("p999", "p99.9", "--", 2)):  # fmt: skip
                pts = [(p.load, getattr(p, field)) for p in series if getattr(p, field)]
                if pts:
                    ax.plot([x for x, _ in pts], [y for _, y in pts], color=colour,
                            linestyle=line, linewidth=width, marker=marker,
                            label=f"open {label}")  # fmt: skip
            err = [[p.p99 - p.p99_low for p in series], [p.p99_high - p.p99 for p in series]]
            ax.errorbar(loads, [p.p99 for p in series], yerr=err, color=colour, capsize=6,
                        linestyle="none")  # fmt: skip
            closed = [(p.load, p.closed_p99) for p in series if p.closed_p99]
            if closed:
                ax.plot([x for x, _ in closed], [y for _, y in closed], color="#555555",
                        linestyle=":", linewidth=3, marker="o", label="closed p99")  # fmt: skip
            unjudged = [p for p in series if not p.judged]
            if unjudged:
                ax.plot([p.load for p in unjudged], [p.p99 for p in unjudged], color="black",
                        marker="x", markersize=18, linestyle="none",
                        label="not judged (flagged)")  # fmt: skip
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
            ax.set_xticks(loads, [f"{x}%" for x in loads])
            ax.set_xlim(min(loads, default=50) - 8, max(loads, default=95) + 8)
            ax.set_title(variant, loc="left", fontsize=20)
            ax.set_xlabel("offered load (of the ceiling)")
        axes[0][0].set_ylabel("ms (log scale)")
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=5, frameon=False)
        fig.suptitle(textwrap.fill(title, 70, break_on_hyphens=False), x=0.01, ha="left",
                     fontsize=22, fontweight="bold")  # fmt: skip
        return _save(fig, out_dir, name)


def memory_chart(
    rows: list[tuple[str, list[Cell]]], title: str, out_dir: Path, name: str
) -> list[Path]:
    """Successful requests per second per GiB of resident memory, one line per (route,
    variant): ``rows`` holds each route's label and its cells, top to bottom. A point per cell
    with its range over the repetitions, on a log scale (the ratios span x2 to x50); beside it,
    the memory and throughput it comes from."""
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = [(route, c) for route, cells in rows for c in cells if c.rps_per_gib is not None]
    spans = [x for _, c in lines if c.rps_per_gib for x in (c.rps_per_gib.low, c.rps_per_gib.high)]
    lo, hi = min(spans or [1.0]) / 1.5, max(spans or [10.0]) * 1.5
    with matplotlib.rc_context(STYLE | {"axes.grid.axis": "x"}):
        fig = Figure(figsize=SIZE, layout="constrained")
        ax: Any = fig.subplots()
        labels = []
        for i, (route, cell) in enumerate(lines):
            spread = cell.rps_per_gib
            assert spread is not None  # kept above
            y = len(lines) - 1 - i
            colour, marker = style(cell.variant, i)
            err = [[spread.median - spread.low], [spread.high - spread.median]]
            ax.errorbar([spread.median], [y], xerr=err, color=colour, marker=marker,
                        markersize=16, capsize=8, linestyle="none")  # fmt: skip
            rss = f"{cell.rss_mib:,.0f} MiB" if cell.rss_mib is not None else "? MiB"
            note = f"{rss}, {cell.rps.median:,.0f} rps"
            ax.annotate(note, (spread.high, y), xytext=(10, 0), textcoords="offset points",
                        va="center", fontsize=16, color=colour)  # fmt: skip
            labels.append(f"{route}  {cell.label}")
        ax.set_xscale("log")
        ax.set_xlim(lo, hi * 4)  # room for the labels right of the points
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
        ax.set_yticks(range(len(lines)), list(reversed(labels)))
        ax.set_ylim(-0.6, len(lines) - 0.4)
        ax.set_xlabel("successful rps per GiB of resident memory (log scale)")
        fig.suptitle(textwrap.fill(title, 64, break_on_hyphens=False), x=0.01, ha="left",
                     fontsize=24, fontweight="bold")  # fmt: skip
        return _save(fig, out_dir, name)


# (variant, most users held or None, most users measured, judged, MiB per 1,000 or None,
# whether that is the growth between levels held, not one level's memory with its base)
Holding = tuple[str, int | None, int, bool, float | None, bool]


def connections_chart(holdings: list[Holding], title: str, out_dir: Path, name: str) -> list[Path]:
    """Two bar panels, a bar per variant: the most concurrent users it held (none: an empty
    slot saying so; "≥" where a higher level could not be judged), and its memory per 1,000
    connections ("-" where unknown, "*" where one level's memory, its base included)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [h[0] for h in holdings]
    with matplotlib.rc_context(STYLE | {"axes.grid.axis": "y"}):
        fig = Figure(figsize=SIZE, layout="constrained")
        held_ax, memory_ax = fig.subplots(1, 2)
        top = max([h[2] for h in holdings] + [1])
        for i, (variant, held, _, judged, memory, growth) in enumerate(holdings):
            colour, _marker = style(variant, i)
            held_ax.bar(i, held or 0, color=colour, edgecolor="black" if judged else "#777777",
                        hatch="" if judged else "//")  # fmt: skip
            label = "none" if held is None else f"{held:,}"
            held_ax.annotate(label if judged else f"\u2265 {label}", (i, held or 0),
                             xytext=(0, 6), textcoords="offset points", ha="center",
                             fontsize=16)  # fmt: skip
            memory_ax.bar(i, memory or 0, color=colour)
            figure = "-" if memory is None else f"{memory:,.0f}" + ("" if growth else "*")
            memory_ax.annotate(figure, (i, memory or 0),
                               xytext=(0, 6), textcoords="offset points", ha="center",
                               fontsize=16)  # fmt: skip
        known = [h[4] for h in holdings if h[4] is not None]
        for ax, label, high in (
            (held_ax, "most concurrent users held", top),
            (memory_ax, "MiB per 1,000 connections", max([*known, 1.0])),
        ):
            ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
            ax.set_ylim(0, high * 1.15)
            ax.set_ylabel(label)
        held_ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        if not all(h[3] for h in holdings):
            held_ax.set_xlabel("hatched, \u2265: a higher level could not be judged", fontsize=14)
        if not all(h[5] for h in holdings if h[4] is not None):
            memory_ax.set_xlabel("*: one level held, its memory with the service's base",
                                 fontsize=14)  # fmt: skip
        fig.suptitle(textwrap.fill(title, 64, break_on_hyphens=False), x=0.01, ha="left",
                     fontsize=24, fontweight="bold")  # fmt: skip
        return _save(fig, out_dir, name)
