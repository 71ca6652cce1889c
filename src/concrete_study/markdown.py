"""Markdown tables, the one way every table of the study is written."""

from __future__ import annotations


def _row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def markdown_table(header: list[str], rows, align: str = "") -> list[str]:
    """The lines of a Markdown table; `align` has a letter per column, l (the default) or r."""
    align = align or "l" * len(header)
    return [_row(header), _row("---:" if a == "r" else "---" for a in align), *(_row(r) for r in rows)]
