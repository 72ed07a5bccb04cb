"""The report document as Markdown; figures are linked by their path relative to the report folder."""

from __future__ import annotations

from pathlib import Path

from molpeft_cli.report.document import Alert, Block, Bullets, Cell, Document, Figure, Paragraph, Strong, Table


def _cell(cell: Cell) -> str:
    text = (cell.text if isinstance(cell, Strong) else cell).replace("|", "\\|").replace("\n", " ")
    return f"**{text}**" if isinstance(cell, Strong) and text else text


def _table(table: Table) -> list[str]:
    lines = ["| " + " | ".join(_cell(h) for h in table.header) + " |",
             "|" + "|".join(":---" if i < table.text_columns else "---:" for i in range(len(table.header))) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows]
    if table.caption:
        lines += ["", f"*{table.caption}*"]
    return lines


def _block(block: Block, root: Path) -> list[str]:
    if isinstance(block, Alert):
        return [f"> **WARNING: {block.text}**"]
    if isinstance(block, Paragraph):
        return [block.text]
    if isinstance(block, Bullets):
        return [f"- {item}" for item in block.items]
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Figure):
        return [f"![{block.caption}]({block.path.relative_to(root).as_posix()})", "", f"*{block.caption}*"]
    raise TypeError(f"unknown report block {type(block).__name__}")


def render_markdown(document: Document, root: Path) -> str:
    """`root` is the report folder, so figure links stay relative and the folder can move."""
    parts = [f"# {document.title}"]
    parts += ["\n".join(_block(alert, root)) for alert in document.alerts]
    for section in document.sections:
        parts.append(f"## {section.title}")
        parts += ["\n".join(_block(block, root)) for block in section.blocks]
    return "\n\n".join(parts) + "\n"
