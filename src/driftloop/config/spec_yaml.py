"""Write a spec as YAML with comments: a reason above each key and beside each listed column.

PyYAML drops comments, so each top-level key is dumped on its own and the comments are
placed around it; the result is read back and compared, so a comment can never change
what the file says.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

WIDTH = 96


@dataclass(frozen=True)
class CommentedKey:
    """One top-level key, its value, a comment above it and comments beside list items."""

    key: str
    value: Any
    comment: str = ""
    item_comments: Mapping[str, str] = field(default_factory=dict)


def _comment_lines(text: str, indent: str = "") -> list[str]:
    lines: list[str] = []
    for para in text.splitlines() or [""]:
        wrapped = textwrap.wrap(para, WIDTH - len(indent) - 2) or [""]
        lines.extend(f"{indent}# {w}".rstrip() for w in wrapped)
    return lines


def _scalar(value: Any) -> str:
    flow = yaml.safe_dump([value], default_flow_style=True, width=10_000).strip()
    return flow[1:-1]


def _entry_lines(entry: CommentedKey) -> list[str]:
    lines = _comment_lines(entry.comment) if entry.comment else []
    value = entry.value
    if entry.item_comments and isinstance(value, list | tuple) and value:
        lines.append(f"{entry.key}:")
        for item in value:
            note = entry.item_comments.get(str(item), "")
            lines.append(f"- {_scalar(item)}" + (f"  # {note}" if note else ""))
        return lines
    dumped = yaml.safe_dump(
        {entry.key: value}, sort_keys=False, default_flow_style=False, width=WIDTH
    )
    lines.extend(dumped.rstrip("\n").splitlines())
    return lines


def render_commented_yaml(header: str, entries: Sequence[CommentedKey]) -> str:
    """The YAML text of ``entries`` in order, with a header comment; checked by reading it back."""
    lines = _comment_lines(header)
    for entry in entries:
        lines.append("")
        lines.extend(_entry_lines(entry))
    text = "\n".join(lines) + "\n"
    expected = {e.key: e.value for e in entries}
    if yaml.safe_load(text) != yaml.safe_load(yaml.safe_dump(expected)):
        raise ValueError("commented YAML does not read back as its values")  # a bug here
    return text
