"""Report sections (title, paragraphs, tables) rendered both as Markdown and as HTML."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field

import pandas as pd

MISSING = "-"


@dataclass
class Section:
    """A titled part of the report: paragraphs of plain text and captioned tables."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)


def fmt(value: object, digits: int = 3) -> str:
    """Format a cell: significant digits for numbers, '-' for missing values."""
    if value is None:
        return MISSING
    if isinstance(value, float):
        if math.isnan(value):
            return MISSING
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            return f"{value:.{digits}g}"
        return f"{value:,.{max(0, digits - 1 - int(math.floor(math.log10(abs(value)))))}f}" \
            if value != 0 else "0"
    return str(value)


def with_interval(value: float, low: float, high: float) -> str:
    """'0.85 [0.81, 0.90]': a figure and its 95% interval ('0.85' without one, '-' if none)."""
    if value is None or pd.isna(value):
        return MISSING
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return f"{value:.3g}"
    return f"{value:.3g} [{low:.3g}, {high:.3g}]"


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (pipes in cells escaped)."""
    if frame.empty:
        return "_(no rows)_\n"
    header = [str(column) for column in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in frame.itertuples(index=False):
        cells = [fmt(value).replace("|", "\\|").replace("\n", " ") for value in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def html_table(frame: pd.DataFrame) -> str:
    """An HTML table with every cell escaped."""
    if frame.empty:
        return "<p><em>(no rows)</em></p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(fmt(v))}</td>" for v in row) + "</tr>"
                   for row in frame.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def to_markdown(title: str, sections: list[Section]) -> str:
    """Render the whole report as Markdown."""
    parts = [f"# {title}\n"]
    for section in sections:
        parts.append(f"\n## {section.title}\n")
        parts += [f"\n{paragraph}\n" for paragraph in section.paragraphs]
        for caption, frame in section.tables:
            parts.append(f"\n**{caption}**\n\n{markdown_table(frame)}")
    return "".join(parts)


def anchor(title: str) -> str:
    """The HTML id of a section heading."""
    return "".join(ch if ch.isalnum() else "-" for ch in title.lower()).strip("-")


def to_html(sections: list[Section]) -> str:
    """Render the sections as HTML fragments (headings, paragraphs, tables)."""
    parts = []
    for section in sections:
        parts.append(f"<h2 id='{anchor(section.title)}'>{html.escape(section.title)}</h2>")
        parts += [f"<p>{html.escape(paragraph)}</p>" for paragraph in section.paragraphs]
        for caption, frame in section.tables:
            parts.append(f"<h3>{html.escape(caption)}</h3>{html_table(frame)}")
    return "\n".join(parts)
