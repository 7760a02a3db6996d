"""One slide-ready chart per demo act: measured throughput of each variant against its ceiling.

Same look as the report (``asynclab.bench.charts``): 16:9, large type, Okabe-Ito colours, and a
hatch per variant so the bars read in grey too. The title states the lesson, the subtitle
the numbers behind it.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.figure import Figure

from asynclab.bench.charts import DPI, SIZE, STYLE, style
from asynclab.bench.verdicts import Cell

HATCHES = ("", "//", "..", "xx")


def act_chart(cells: list[Cell], title: str, subtitle: str, out_dir: Path, name: str) -> list[Path]:
    """Bars of median rps (whiskers: lowest to highest run), each ceiling dashed above its bar."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with matplotlib.rc_context(STYLE | {"axes.grid.axis": "y"}):
        fig = Figure(figsize=SIZE, layout="constrained")
        ax: Any = fig.subplots()
        top = 0.0
        for i, cell in enumerate(cells):
            colour, _ = style(cell.variant, i)
            rps = cell.rps
            ax.bar(i, rps.median, width=0.6, color=colour, hatch=HATCHES[i % len(HATCHES)],
                   edgecolor="white", label=cell.variant)  # fmt: skip
            if rps.n > 1:
                ax.errorbar(i, rps.median, yerr=[[rps.median - rps.low], [rps.high - rps.median]],
                            color="black", capsize=10, linewidth=2)  # fmt: skip
            top = max(top, rps.high)
            if cell.ceiling_rps:
                ax.hlines(cell.ceiling_rps, i - 0.4, i + 0.4, colors="black", linestyles="--",
                          linewidth=3)  # fmt: skip
                ax.annotate(f"ceiling {cell.ceiling_rps:,.0f}", (i + 0.4, cell.ceiling_rps),
                            xytext=(6, 0), textcoords="offset points", va="center",
                            fontsize=16)  # fmt: skip
                top = max(top, cell.ceiling_rps)
        top = top * 1.15 or 1.0
        for i, cell in enumerate(cells):
            # The figure goes inside a tall bar, and above bar and ceiling when the bar is short.
            value = cell.rps.median
            inside = value > 0.25 * top
            y = value if inside else max(value, cell.ceiling_rps or 0)
            ax.annotate(f"{value:,.0f} rps", (i, y), xytext=(0, -12 if inside else 10),
                        textcoords="offset points", ha="center", va="top" if inside else "bottom",
                        fontsize=26, fontweight="bold", color="white" if inside else "black",
                        bbox={"facecolor": "black", "edgecolor": "none", "alpha": 0.6}
                        if inside else None)  # fmt: skip
        ax.set_xticks(range(len(cells)), [c.variant for c in cells], fontsize=22)
        ax.set_xlim(-0.6, len(cells) - 0.1)
        ax.set_ylim(0, top)
        ax.set_ylabel("requests per second")
        wrapped = "\n".join(textwrap.fill(line, 95) for line in subtitle.splitlines())
        ax.set_title(wrapped, loc="left", fontsize=17, fontweight="normal")
        fig.suptitle(textwrap.fill(title, 60), x=0.01, ha="left", fontsize=28, fontweight="bold")
        paths = [out_dir / f"{name}.png", out_dir / f"{name}.svg"]
        fig.savefig(paths[0], dpi=DPI)
        fig.savefig(paths[1])
        return paths
