"""Config verbs: config:list/set/unset/pull/push and limits:list/set/unset. Each change is a new release."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from app_layer.cli import local
from app_layer.cli.client import USAGE, Client, CliError, app_path
from app_layer.cli.common import app_of, app_option, client, pairs, verb
from app_layer.cli.output import json_option, note, show, step, table


def change_config(api: Client, app_id: str, change: dict[str, Any], what: str) -> dict[str, Any]:
    """POST a config change; the controller validates it and rolls the new release out."""
    step(f"{what} for {app_id}... (a new release is rolled out)")
    response = api.post(app_path(app_id, "config"), change, expect=(201,))
    release = response.headers.get("Deis-Release")
    note(f"done, v{release}" if release else "done")
    return response.json()


def _values_table(values: dict[str, Any]) -> str:
    return table(sorted(values.items()), ("KEY", "VALUE"))


@verb("config:list")
@app_option
@click.option("--oneline", is_flag=True, help="KEY=VALUE pairs on one line")
@json_option
def config_list(app: str | None, oneline: bool, as_json: bool) -> None:
    """The app's config values (environment variables)."""
    app_id = app_of(app)
    values = client().get(app_path(app_id, "config"))["values"]
    if oneline:
        show(values, as_json, lambda v: " ".join(local.env_line(k, str(v[k])) for k in sorted(v)))
    else:
        show(values, as_json, lambda v: f"=== {app_id} Config\n" + _values_table(v))


@verb("config:set")
@click.argument("assignments", nargs=-1, required=True, metavar="KEY=VALUE...")
@app_option
@json_option
def config_set(assignments: tuple[str, ...], app: str | None, as_json: bool) -> None:
    """Set config values: app-layer config:set DEBUG=1 GREETING="hello world"."""
    app_id = app_of(app)
    values = pairs(assignments)
    config = change_config(client(), app_id, {"values": values}, "Setting " + ", ".join(values))
    show(config["values"], as_json, lambda v: f"=== {app_id} Config\n" + _values_table(v))


@verb("config:unset")
@click.argument("keys", nargs=-1, required=True, metavar="KEY...")
@app_option
@json_option
def config_unset(keys: tuple[str, ...], app: str | None, as_json: bool) -> None:
    """Remove config values."""
    app_id = app_of(app)
    config = change_config(client(), app_id, {"values": {k: None for k in keys}}, "Unsetting " + ", ".join(keys))
    show(config["values"], as_json, lambda v: f"=== {app_id} Config\n" + _values_table(v))


@verb("config:pull")
@app_option
@click.option("-o", "--output", "path", type=click.Path(dir_okay=False, path_type=Path), default=".env",
              show_default=True)
@click.option("--overwrite", is_flag=True, help="replace values already in the file (default: keep them)")
def config_pull(app: str | None, path: Path, overwrite: bool) -> None:
    """Write the app's config to a .env file."""
    app_id = app_of(app)
    values = {k: str(v) for k, v in client().get(app_path(app_id, "config"))["values"].items()}
    existing = local.read_env_file(path) if path.exists() else {}
    merged = {**existing, **values} if overwrite else {**values, **existing}
    local.write_env_file(path, merged)
    note(f"Wrote {len(merged)} values to {path}")


@verb("config:push")
@app_option
@click.option("-p", "--path", "path", type=click.Path(dir_okay=False, path_type=Path), default=".env",
              show_default=True)
def config_push(app: str | None, path: Path) -> None:
    """Set the app's config from a .env file (keys not in the file are left alone)."""
    app_id = app_of(app)
    values = local.read_env_file(path)
    if not values:
        note(f"{path} has no values; nothing to push")
        return
    change_config(client(), app_id, {"values": values}, f"Pushing {len(values)} values from {path}")


# --- limits -------------------------------------------------------------------------------------

_cpu = click.option("--cpu", is_flag=True, help="CPU shares (0-1024)")
_memory = click.option("--memory", is_flag=True, help="memory limits, as 512M or 1G (the default)")


def _which(memory: bool, cpu: bool) -> str:
    if memory and cpu:
        raise CliError("Give --memory or --cpu, not both.", USAGE)
    return "cpu" if cpu else "memory"


@verb("limits:list")
@app_option
@json_option
def limits_list(app: str | None, as_json: bool) -> None:
    """Memory and CPU limits per process type."""
    config = client().get(app_path(app_of(app), "config"))
    limits = {"memory": config["memory"], "cpu": config["cpu"]}
    show(limits, as_json, lambda lim: table(
        [(t, lim["memory"].get(t), lim["cpu"].get(t)) for t in sorted(set(lim["memory"]) | set(lim["cpu"]))],
        ("TYPE", "MEMORY", "CPU")))


@verb("limits:set")
@click.argument("limits", nargs=-1, required=True, metavar="TYPE=LIMIT...")
@app_option
@_memory
@_cpu
def limits_set(limits: tuple[str, ...], app: str | None, memory: bool, cpu: bool) -> None:
    """Set limits: app-layer limits:set web=512M (or --cpu web=512)."""
    app_id = app_of(app)
    kind = _which(memory, cpu)
    change_config(client(), app_id, {kind: pairs(limits, "TYPE=LIMIT")}, f"Setting {kind} limits")


@verb("limits:unset")
@click.argument("types", nargs=-1, required=True, metavar="TYPE...")
@app_option
@_memory
@_cpu
def limits_unset(types: tuple[str, ...], app: str | None, memory: bool, cpu: bool) -> None:
    """Remove limits of process types."""
    app_id = app_of(app)
    kind = _which(memory, cpu)
    change_config(client(), app_id, {kind: {t: None for t in types}}, f"Unsetting {kind} limits")
