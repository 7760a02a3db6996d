"""A tiny document model rendered twice: as Markdown and as one self-contained HTML page.

The report says everything once, in ``Heading``/``Para``/``Table``/``Image`` blocks, so that the
Markdown summary and the HTML page can never disagree.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Para:
    text: str
    kind: str = ""  # "", "verdict", "warning", "note"


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Image:
    path: Path  # PNG; an SVG of the same name sits beside it
    alt: str


Block = Heading | Para | Table | Image


def markdown(blocks: list[Block], base: Path) -> str:
    out: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            out.append("#" * b.level + " " + b.text)
        elif isinstance(b, Para):
            prefix = {"verdict": "- ", "warning": "> **Warning:** ", "note": "> "}.get(b.kind, "")
            out.append(prefix + b.text)
        elif isinstance(b, Table):
            out.append("| " + " | ".join(b.headers) + " |")
            out.append("|" + "---|" * len(b.headers))
            out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in b.rows]
        else:
            rel = b.path.relative_to(base)
            svg = rel.with_suffix(".svg")
            out.append(f"![{b.alt}]({rel}) ([SVG]({svg}))")
        out.append("")
    return "\n".join(out)


CSS = """
body { font: 18px/1.5 system-ui, sans-serif; max-width: 1400px; margin: 2rem auto;
       padding: 0 1rem; color: #111; }
h1 { font-size: 2.2rem; } h2 { font-size: 1.7rem; margin-top: 2.5rem; }
.verdict { font-size: 1.25rem; border-left: 6px solid #0072B2; padding: .4rem 1rem;
           background: #eef5fb; }
.warning { border-left: 6px solid #D55E00; padding: .4rem 1rem; background: #fdf0e8; }
.note { color: #333; border-left: 6px solid #999; padding: .2rem 1rem; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 1rem; }
th, td { border: 1px solid #ccc; padding: .3rem .6rem; text-align: left; }
th { background: #f3f3f3; }
img { width: 100%; height: auto; border: 1px solid #ddd; margin: .5rem 0 1.5rem; }
"""


def html_page(title: str, blocks: list[Block]) -> str:
    """One HTML file with every chart inlined (base64 PNG): it opens offline, anywhere."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
    ]
    for b in blocks:
        if isinstance(b, Heading):
            parts.append(f"<h{b.level}>{html.escape(b.text)}</h{b.level}>")
        elif isinstance(b, Para):
            cls = f' class="{b.kind}"' if b.kind else ""
            parts.append(f"<p{cls}>{html.escape(b.text)}</p>")
        elif isinstance(b, Table):
            head = "".join(f"<th>{html.escape(h)}</th>" for h in b.headers)
            body = "".join(
                "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                for row in b.rows
            )
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        else:
            data = base64.b64encode(b.path.read_bytes()).decode()
            parts.append(
                f'<figure><img alt="{html.escape(b.alt)}" src="data:image/png;base64,{data}">'
                "</figure>"
            )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
