"""Tables and pages in Markdown (for git and the README) and reStructuredText (for the report),
the one way every table of the study is written.

A page is a list of blocks: ("title", text), ("heading", text), ("text", paragraph) and
("table", header, rows, align), `align` a letter per column, l or r.
"""

from __future__ import annotations


def _row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def markdown_table(header: list[str], rows, align: str = "") -> list[str]:
    """The lines of a Markdown table; `align` has a letter per column, l (the default) or r."""
    align = align or "l" * len(header)
    return [_row(header), _row("---:" if a == "r" else "---" for a in align), *(_row(r) for r in rows)]


def rst_table(header: list[str], rows) -> list[str]:
    """The lines of a reStructuredText list table with a header row."""
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for cells in [header, *rows]:
        lines += [f"   {'*' if i == 0 else ' '} - {cell}" for i, cell in enumerate(cells)]
    return lines


def render(page: list[tuple], kind: str) -> str:
    """A page as Markdown (`kind` "md") or reStructuredText ("rst")."""
    lines: list[str] = []
    for block in page:
        if block[0] == "table":
            _, header, rows, align = block
            lines += markdown_table(header, rows, align) if kind == "md" else rst_table(header, rows)
        elif block[0] == "text" or kind == "md":
            prefix = {"title": "# ", "heading": "## ", "text": ""}[block[0]]
            lines.append(prefix + block[1])
        else:
            lines += [block[1], ("=" if block[0] == "title" else "-") * len(block[1])]
        lines.append("")
    return "\n".join(lines)
