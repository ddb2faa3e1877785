"""What every command shares: settings options, logging, output formats, one-line failures.

A command module defines a click group or command and decorates it with :func:`settings_options`;
``ctx.obj`` then holds a lazily resolved :class:`CliContext`.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click
import orjson

from airdig import logs
from airdig.errors import AirDigError
from airdig.model.redact import redact_text
from airdig.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class CliContext:
    config_file: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = Settings.load(self.config_file, self.overrides)
            logs.configure(self._settings.log_level, self._settings.log_format)
        return self._settings


def _ctx() -> CliContext:
    ctx = click.get_current_context()
    root = ctx.find_root()
    if not isinstance(root.obj, CliContext):
        root.obj = CliContext()
    obj: CliContext = root.obj
    return obj


def settings_options(func: F) -> F:
    """Adds ``--config`` and ``--data-dir`` to a command; values land in the shared :class:`CliContext`."""

    @click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
                  help="YAML file with settings (keys as in the README's configuration table).")
    @click.option("--data-dir", type=click.Path(file_okay=False), default=None,
                  help="Folder of the embedded backends [env AIRDIG_DATA_DIR, default ~/.airdig].")
    @functools.wraps(func)
    def wrapper(*args: Any, config_file: str | None, data_dir: str | None, **kwargs: Any) -> Any:
        c = _ctx()
        if config_file:
            c.config_file = config_file
        if data_dir:
            c.overrides["data_dir"] = data_dir
        return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def cli_context() -> CliContext:
    return _ctx()


def format_option(choices: tuple[str, ...] = ("table", "json")) -> Callable[[F], F]:
    return click.option("--format", "fmt", type=click.Choice(choices), default=choices[0], show_default=True,
                        help="Output format.")


def fail(message: str, code: int = 2) -> None:
    """Exit with a one-line reason on stderr."""
    click.echo(f"airdig: error: {redact_text(message)}", err=True)  # e.g. a state URL with its password
    sys.exit(code)


def handle_errors(func: F) -> F:
    """Turn :class:`AirDigError` into a one-line message and exit status 2, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except AirDigError as exc:
            fail(str(exc))
        return None

    return wrapper  # type: ignore[return-value]


def echo_json(value: Any) -> None:
    click.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode())


def echo_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    """A plain aligned table; long cells are cut so a row stays on one line."""
    if not rows:
        click.echo("(none)")
        return
    cells = [[str(r.get(c, "") if r.get(c) is not None else "")[:60] for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


class Progress:
    """Progress on a terminal (a rewritten line), quiet structured lines otherwise."""

    def __init__(self, label: str, total: int | None = None, stream: Any = None) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def advance(self, n: int = 1, note: str = "") -> None:
        self.done += n
        if self.tty:
            total = f"/{self.total}" if self.total else ""
            self.stream.write(f"\r{self.label}: {self.done}{total} {note[:50]:50s}")
            self.stream.flush()

    def finish(self, summary: str) -> None:
        if self.tty:
            self.stream.write("\r" + " " * 100 + "\r")
        self.stream.write(f"{self.label}: {summary}\n")
        self.stream.flush()
