"""The report document as one self-contained HTML page: inline CSS, figures embedded as base64 PNG."""

from __future__ import annotations

import base64
from html import escape

from molpeft_cli.report.document import Alert, Block, Bullets, Cell, Document, Figure, Paragraph, Strong, Table

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1250px;
       color: #1d1d1f; line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.6em; border-bottom: 2px solid #ccc; padding-bottom: .2em; }
h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .6em 0; font-size: .9em; }
th, td { border: 1px solid #d0d0d0; padding: .25em .6em; text-align: right; }
th.name, td.name { text-align: left; }
th { background: #f2f2f2; }
td strong { color: #0b5394; }
.caption { color: #555; font-size: .85em; font-style: italic; margin: .2em 0 1em; }
.alert { background: #b00020; color: #fff; font-weight: bold; padding: .8em 1em; border-radius: 4px;
         font-size: 1.05em; margin: 1em 0; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
"""


def _cell(cell: Cell, tag: str, text: bool) -> str:
    opening = f'<{tag} class="name">' if text else f"<{tag}>"
    if isinstance(cell, Strong):
        return f"{opening}<strong>{escape(cell.text)}</strong></{tag}>"
    return f"{opening}{escape(cell)}</{tag}>"


def _row(cells: list[Cell], tag: str, text_columns: int) -> str:
    return "<tr>" + "".join(_cell(c, tag, i < text_columns) for i, c in enumerate(cells)) + "</tr>"


def _table(table: Table) -> str:
    head = _row(table.header, "th", table.text_columns)
    body = "".join(_row(row, "td", table.text_columns) for row in table.rows)
    caption = f'<p class="caption">{escape(table.caption)}</p>' if table.caption else ""
    return f"<table><thead>{head}</thead><tbody>{body}</tbody></table>{caption}"


def _figure(figure: Figure) -> str:
    encoded = base64.b64encode(figure.path.read_bytes()).decode("ascii")
    alt = escape(figure.caption, quote=True)
    return (f'<figure><img alt="{alt}" src="data:image/png;base64,{encoded}">'
            f'<figcaption class="caption">{escape(figure.caption)}</figcaption></figure>')


def _block(block: Block) -> str:
    if isinstance(block, Alert):
        return f'<div class="alert">WARNING: {escape(block.text)}</div>'
    if isinstance(block, Paragraph):
        return f"<p>{escape(block.text)}</p>"
    if isinstance(block, Bullets):
        return "<ul>" + "".join(f"<li>{escape(item)}</li>" for item in block.items) + "</ul>"
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Figure):
        return _figure(block)
    raise TypeError(f"unknown report block {type(block).__name__}")


def render_html(document: Document) -> str:
    parts = [f"<h1>{escape(document.title)}</h1>", *(_block(a) for a in document.alerts)]
    for section in document.sections:
        parts.append(f"<section><h2>{escape(section.title)}</h2>")
        parts += [_block(block) for block in section.blocks]
        parts.append("</section>")
    body = "\n".join(parts)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{escape(document.title)}</title><style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n")
