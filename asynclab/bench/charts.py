"""Charts sized for slides (16:9, large type), in PNG and SVG, with a colour-blind-safe palette.

Throughput vs users per variant with each variant's ceiling dashed in its colour; p50 and p99
latency vs users. Colours are Okabe-Ito; every variant also has its own marker, so the charts
read in grey too.
"""

from __future__ import annotations

import textwrap
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator

from asynclab.bench.verdicts import Cell

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
}
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
    out: dict[str, list[Cell]] = defaultdict(list)
    for cell in sorted(cells, key=lambda c: c.users):
        out[cell.variant].append(cell)
    return out


def _users_axis(ax: Any, users: list[int]) -> None:
    levels = sorted(set(users))
    if len(levels) > 2 and levels[-1] / max(levels[0], 1) > 8:
        ax.set_xscale("log", base=2)
    ax.set_xticks(levels, [str(u) for u in levels])
    ax.minorticks_off()
    ax.set_xlabel("concurrent users (closed loop)")


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
            colour, marker = style(variant, i)
            users = [c.users for c in series]
            median = [c.rps.median for c in series]
            err = [[c.rps.median - c.rps.low for c in series],
                   [c.rps.high - c.rps.median for c in series]]  # fmt: skip
            ax.errorbar(users, median, yerr=err, color=colour, marker=marker, capsize=6,
                        label=variant)  # fmt: skip
            ceil = [(c.users, c.ceiling_rps) for c in series if c.ceiling_rps]
            if ceil:
                # A CPU figure is measured in the same run, not predicted: say which it is.
                slots = any(c.ceiling_kind != "cpu" for c in series if c.ceiling_rps)
                what = "ceiling" if slots else "measured CPU capacity"
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
        ax.legend(loc="best", frameon=False)
        return _save(fig, out_dir, name)


def latency_chart(cells: list[Cell], title: str, out_dir: Path, name: str) -> list[Path]:
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=SIZE, layout="constrained")
        axes = fig.subplots(1, 2, sharey=True)
        for ax, field, label in ((axes[0], "p50_ms", "p50"), (axes[1], "p99_ms", "p99")):
            for i, (variant, series) in enumerate(_by_variant(cells).items()):
                colour, marker = style(variant, i)
                points = [(c.users, getattr(c, field)) for c in series if getattr(c, field)]
                if points:
                    ax.plot([u for u, _ in points], [v for _, v in points], color=colour,
                            marker=marker, label=variant)  # fmt: skip
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
