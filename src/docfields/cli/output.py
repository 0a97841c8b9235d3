"""Console output and error mapping shared by every command."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import typer
from rich.console import Console
from rich.markup import escape

# Soft wrap: a message is one line however narrow the terminal, so a path in it can be copied
# (Rich would otherwise break it with a newline at the terminal's width).
console = Console(soft_wrap=True)
error_console = Console(stderr=True, soft_wrap=True)


@contextmanager
def fail_on_error() -> Iterator[None]:
    """Turn a DocfieldsError into its message on stderr and its exit code, with no traceback.

    Invalid option values rejected by an options model exit with 2, like Typer's own usage errors.
    """
    from pydantic import ValidationError

    from docfields.errors import DocfieldsError

    try:
        yield
    except DocfieldsError as exc:
        error_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(exc.exit_code) from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        error_console.print(f"[red]error:[/red] invalid option: {escape(problems)}", highlight=False)
        raise typer.Exit(2) from exc


def require_extra(extra: str, purpose: str) -> None:
    """Exit with a one-line install hint when the optional part ``extra`` is missing.

    Called first in a command that needs the extra, before anything imports it, so the user sees
    ``pip install 'docfields[extra]'`` rather than an ImportError traceback.
    """
    from docfields.extras import require

    with fail_on_error():
        require(extra, purpose)


def parse_day(text: str) -> date:
    """A ``YYYY-MM-DD`` option value; anything else is a usage error naming it."""
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(f"{text!r} is not a YYYY-MM-DD date") from exc
