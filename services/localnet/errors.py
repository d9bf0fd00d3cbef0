"""The one error of the local network, and how the commands report it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.text import Text

_errors = Console(stderr=True)


class LocalNetworkError(RuntimeError):
    """A local broker, database or service could not be set up, started or stopped.

    `detail` holds the lines of its log (or of the tool's output) that say why.
    """

    def __init__(self, message: str, *, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


@contextmanager
def failures_reported() -> Iterator[None]:
    """Turn a LocalNetworkError into a one-line error (and its log tail) and exit code 1."""
    try:
        yield
    except LocalNetworkError as error:
        _errors.print(Text.assemble(("error: ", "bold red"), str(error)))
        if error.detail:
            _errors.print(Text(error.detail, style="dim"))
        raise typer.Exit(1) from None
