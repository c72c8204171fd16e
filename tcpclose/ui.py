"""What every command shares at the front door: exit codes, the output width, validated numeric
options, renamed options, output paths checked before any work, and bad input turned into one
line on stderr.

Exit codes (the README repeats them): 0 everything holds, 1 a violation, 2 bad input, 3 a
budget (states, memory, depth, time) ended the work before it was done, 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console
from rich.table import Table

from model.limits import MAX_DIGITS, Limit
from properties.profiles import ProfileError
from properties.traces import TraceError
from spec import SpecError

HOLDS, VIOLATION, BAD_INPUT, BUDGET, INTERRUPTED = 0, 1, 2, 3, 130

# Outside a terminal (a pipe, a CI log) no width is known, and rich would assume 80 columns and
# cut every wider cell with an ellipsis. A width this large lets each table take the width its
# content needs; nothing is padded to it (tables do not expand).
UNBOUNDED_WIDTH = 100_000


def console(*, stderr: bool = False) -> Console:
    """A console for a command's output: the terminal's width on a terminal, else the content's."""
    probe = Console(stderr=stderr)
    if probe.is_terminal:
        return probe
    return Console(stderr=stderr, width=UNBOUNDED_WIDTH)


def table(*columns: str, **kwargs: Any) -> Table:
    """A table whose cells wrap (fold) on a narrow terminal instead of being cut with an ellipsis:
    two invariants whose names share a prefix must never print the same."""
    t = Table(**kwargs)
    for name in columns:
        t.add_column(name, overflow="fold")
    return t


def fail(message: str, code: int = BAD_INPUT) -> NoReturn:
    """One line on stderr and the exit code; never a traceback."""
    click.echo(f"tcpclose: {' '.join(message.split())}", err=True)
    sys.exit(code)


BAD_INPUT_ERRORS: tuple[type[Exception], ...] = (TraceError, SpecError, ProfileError)


@contextmanager
def bad_input() -> Iterator[None]:
    """The spec's, the trace reader's and the profile loader's errors, and a failed write to an
    output path, become one line and exit status 2."""
    try:
        yield
    except BAD_INPUT_ERRORS as err:
        fail(str(err))
    except OSError as err:  # an output path that cannot be written after all
        fail(f"{err.filename or 'output'}: {err.strerror or err}")


def writable_dir(path: Path, what: str) -> None:
    """Refuse, before any work, an output directory that cannot be created or written: the first
    existing ancestor must be a directory that accepts a file (tried with a temporary file,
    which also catches read-only file systems and root's view of permissions)."""
    ancestor = path
    while not ancestor.exists():
        if ancestor.parent == ancestor:
            break
        ancestor = ancestor.parent
    if ancestor.exists() and not ancestor.is_dir():
        raise SpecError(f"{what} {path}: {ancestor} is not a directory")
    try:
        with tempfile.TemporaryFile(dir=ancestor):
            pass
    except OSError as err:
        raise SpecError(f"{what} {path}: cannot write in {ancestor}: {err.strerror or err}") from None


class Bounded(click.ParamType[Any, Any]):
    """An integer (or float) option within a ``Limit``: the error names the range and the reason.
    Numbers with more than ``MAX_DIGITS`` digits are refused before they are parsed."""

    def __init__(self, limit: Limit, kind: type[int] | type[float] = int) -> None:
        self.limit = limit
        self.kind = kind
        self.name = "integer" if kind is int else "float"

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return "INTEGER" if self.kind is int else "SECONDS"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            number: int | float = value
        else:
            text = str(value).strip()
            if len(text.lstrip("+-").replace("_", "")) > MAX_DIGITS:
                self.fail(f"a {len(text)}-character number; it must be {self.limit.describe()}: {self.limit.reason}")
            try:
                number = self.kind(text)
            except ValueError:
                self.fail(f"{text!r} is not {'an integer' if self.kind is int else 'a number'}")
        if number != number:  # NaN
            self.fail("nan is not a number")
        if not self.limit.admits(number):
            self.fail(f"{number:g}; it must be {self.limit.describe()}: {self.limit.reason}")
        return number


F = TypeVar("F", bound=Callable[..., Any])


def renamed(old: str, new: str, meaning: str) -> Callable[[F], F]:
    """A hidden option under a name that changed meaning: using it is refused with a line that
    names the new option (one meaning per option name across commands)."""

    def refuse(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if value is not None:
            raise click.UsageError(f"{old} is now {new} ({meaning})", ctx)

    return click.option(old, hidden=True, expose_value=False, callback=refuse, help=f"renamed {new}")


def trace_dir_checked() -> Path:
    """``$TCPCLOSE_TRACE_DIR`` (or tcpclose-traces/), refused before any work if unwritable."""
    from properties.traces import trace_dir

    path = trace_dir()
    if os.environ.get("TCPCLOSE_TRACE_DIR") == "":
        raise SpecError("TCPCLOSE_TRACE_DIR is set but empty: unset it or name a directory")
    writable_dir(path, "trace folder (TCPCLOSE_TRACE_DIR)")
    return path
