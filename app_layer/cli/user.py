"""The user verbs of ``app-layer`` (Deis-style ``apps:create``, ``config:set``, ``ps:scale`` ...).

Settings live in ``~/.app-layer/<profile>.json`` (``APP_LAYER_PROFILE``, default ``client``).
Exit statuses: 0 success, 1 the controller refused or failed the request, 2 usage error,
3 not logged in (or the token expired), 4 the controller cannot be reached; ``run`` exits
with the remote command's status.
"""
from __future__ import annotations

import click

from app_layer.cli import accounts, apps, config, domains, releases  # noqa: F401 - each module adds its verbs
from app_layer.cli.common import COMMANDS


def register(group: click.Group) -> None:
    """Attach every user verb to the ``app-layer`` command group."""
    for command in COMMANDS:
        if command.name not in group.commands:
            group.add_command(command)
