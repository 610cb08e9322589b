"""How the user verbs print: aligned tables for people, ``--json`` for scripts, messages on stderr."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import click

json_option = click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")


def table(rows: Iterable[Sequence[Any]], headers: Sequence[str]) -> str:
    """Columns padded to their widest cell; ``None`` prints as ``-``."""
    cells = [[_cell(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = [headers, *cells]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=False)).rstrip() for line in lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value).replace("\n", " ")


def show(data: Any, as_json: bool, render: Callable[[Any], str]) -> None:
    """Print ``data`` as JSON or through ``render``."""
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=False))
    else:
        text = render(data)
        if text:
            click.echo(text)


def note(message: str) -> None:
    """Progress and confirmations go to stderr, so stdout stays the data (``--json`` pipes cleanly)."""
    click.echo(message, err=True)


def step(message: str) -> None:
    """A Heroku-style progress line for long work."""
    click.echo(f"-----> {message}", err=True)
