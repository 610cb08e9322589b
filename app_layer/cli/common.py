"""Shared pieces of the user verbs: the ``verb`` decorator (errors -> exit codes), ``-a/--app``, the client."""
from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from app_layer.cli.client import USAGE, Client, CliError, Profile
from app_layer.cli.local import infer_app

F = TypeVar("F", bound=Callable[..., Any])

#: every user verb, in definition order; ``user.register`` adds them to the ``app-layer`` group
COMMANDS: list[click.Command] = []

app_option = click.option("-a", "--app", "app", metavar="APP",
                          help="the app (default: the app-layer git remote, else the directory name)")


def verb(name: str, **kwargs: Any) -> Callable[[F], click.Command]:
    """A user verb: ``CliError`` is printed on stderr and becomes the exit status."""

    def decorate(fn: F) -> click.Command:
        @functools.wraps(fn)
        def run(*args: Any, **kw: Any) -> Any:
            try:
                return fn(*args, **kw)
            except CliError as exc:
                click.echo(f"Error: {exc.message}", err=True)
                sys.exit(exc.code)
            except KeyboardInterrupt:
                sys.exit(130)

        command = click.command(name, **kwargs)(run)
        COMMANDS.append(command)
        return command

    return decorate


def client() -> Client:
    """A client logged in as the profile's user (exit 3 when nobody is logged in)."""
    return Client(Profile.load())


def app_of(given: str | None) -> str:
    return infer_app(given)


def pairs(items: tuple[str, ...], what: str = "KEY=VALUE") -> dict[str, str]:
    """``K=V`` arguments as a dict, in order; a malformed one is a usage error."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"{item!r}: expected {what}", USAGE)
        out[key] = value
    return out
