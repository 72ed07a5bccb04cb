"""The report as plain data (sections of paragraphs, tables, figures), rendered alike to Markdown and HTML."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Strong:
    """A table cell or phrase to emphasise (best in a row, an interval that excludes 0)."""

    text: str


Cell = str | Strong


@dataclass
class Paragraph:
    text: str


@dataclass
class Alert:
    """A warning the reader must not miss (e.g. the test split used as an influence target)."""

    text: str


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Table:
    header: list[str]
    rows: list[list[Cell]]
    caption: str = ""
    text_columns: int = 1  # leading columns of names, aligned left; the rest hold numbers, aligned right


@dataclass
class Figure:
    path: Path  # the PNG on disk, under the report's figures/ folder
    caption: str


Block = Paragraph | Alert | Bullets | Table | Figure


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Document:
    title: str
    alerts: list[Alert]
    sections: list[Section]


def fmt(value: float | int | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text  # no "-0.000" from rounding noise


def fmt_mean_sd(mean: float | None, sd: float | None, digits: int = 3) -> str:
    """`mean ± sd`, or `mean ± n/a` when there is no spread (one seed)."""
    return f"{fmt(mean, digits)} ± {fmt(sd, digits)}"


def fmt_count(value: float | int | None) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{int(value):,}"


def fmt_p(p: float | None) -> str:
    """A p-value for the text: three decimals, or `< 0.001`."""
    if p is None or p != p:
        return "n/a"
    return "< 0.001" if p < 0.001 else fmt(p, 3)
