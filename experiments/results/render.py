"""The report's blocks and their rendering: `Block` (a heading, paragraph, list, table or image),
`to_markdown` (GitHub-flavoured, images linked) and `to_html` (one self-contained page, images
embedded as base64 PNG). Pure functions: `report.write_report` writes the files.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Block:
    """One piece of the report: `kind` is heading (`level` 1-3), text, items, table or image."""

    kind: str
    text: str = ""  # heading / paragraph text (inline `code` and **bold**); image caption
    level: int = 0
    items: tuple = ()  # list items; table rows (tuples of cells)
    header: tuple = ()  # table header
    path: str = ""  # image path, relative to the report
    anchor: str = ""  # a heading's id, for links like [F1](#f1)


def to_markdown(blocks: list[Block]) -> str:
    """The report as GitHub-flavoured Markdown; images link to their relative paths."""
    out = []
    for block in blocks:
        if block.kind == "heading":
            anchor = f'<a id="{block.anchor}"></a>\n\n' if block.anchor else ""
            out.append(f"{anchor}{'#' * block.level} {block.text}")
        elif block.kind == "text":
            out.append(block.text)
        elif block.kind == "items":
            out.append("\n".join(f"- {item}" for item in block.items))
        elif block.kind == "table":
            lines = [_md_row(block.header), "|" + "---|" * len(block.header)]
            lines += [_md_row(row) for row in block.items]
            out.append("\n".join(lines))
        elif block.kind == "image":
            out.append(f"![{block.text}]({block.path})")
    return "\n\n".join(out) + "\n"


def _md_row(cells) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.88em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
code { background: #f3f3f3; padding: 0 0.2em; }
img { max-width: 100%; border: 1px solid #eee; }
"""


def to_html(blocks: list[Block], images: dict[str, bytes]) -> str:
    """The report as one self-contained HTML page: every image embedded as a base64 PNG.

    Args:
        images: the PNG bytes of every image block, by its `path`.
    """
    title = next((b.text for b in blocks if b.kind == "heading"), "Report")
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title.replace('`', ''))}</title>",
        f"<style>{_STYLE}</style></head><body>",
    ]
    for block in blocks:
        if block.kind == "heading":
            anchor = f' id="{block.anchor}"' if block.anchor else ""
            out.append(f"<h{block.level}{anchor}>{_inline(block.text)}</h{block.level}>")
        elif block.kind == "text":
            out.append(f"<p>{_inline(block.text)}</p>")
        elif block.kind == "items":
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in block.items) + "</ul>")
        elif block.kind == "table":
            head = "".join(f"<th>{_inline(str(c))}</th>" for c in block.header)
            body = "".join(
                "<tr>" + "".join(f"<td>{_inline(str(c))}</td>" for c in row) + "</tr>"
                for row in block.items
            )
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif block.kind == "image":
            data = base64.b64encode(images[block.path]).decode("ascii")
            out.append(
                f'<figure><img src="data:image/png;base64,{data}" '
                f'alt="{html.escape(block.text)}"></figure>'
            )
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _inline(text: str) -> str:
    """Escapes `text` and renders its inline `code`, **bold**, *emphasis* and [links](#anchor)."""
    text = html.escape(text)
    text = re.sub(r"\[([^\]]+)\]\((#[\w-]+)\)", r'<a href="\2">\1</a>', text)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])", r"<em>\1</em>", text)
