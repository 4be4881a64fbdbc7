"""Tables and panels on the terminal (rich); what they hold is computed in ``views``."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from finetune_cli.views import Section


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> Table:
    """A kubectl-like table: headers, no borders."""
    out = Table(box=None, pad_edge=False, header_style="bold")
    for header in headers:
        out.add_column(header, no_wrap=True)
    for row in rows:
        out.add_row(*row)
    return out


def sections(console: Console, found: Sequence[Section]) -> None:
    """``describe``'s sections: a title, then its rows as ``key  value``."""
    for title, rows in found:
        console.print(f"[bold]{title}[/bold]")
        if not rows:
            console.print("  <none>")
            continue
        body = Table(show_header=False, pad_edge=False)
        body.add_column(style="cyan", no_wrap=True)
        body.add_column()
        for key, value in rows:
            body.add_row(f"  {key}", value)
        console.print(body)
