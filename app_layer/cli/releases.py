"""Deploy verbs: builds:create/list, releases:list/info/rollback, ps:list/scale/restart."""
from __future__ import annotations

import re
from pathlib import Path

import click

from app_layer.cli.apps import PROCESS_HEADERS, _process_rows
from app_layer.cli.client import USAGE, Client, CliError, app_path
from app_layer.cli.common import app_of, app_option, client, pairs, verb
from app_layer.cli.output import json_option, note, show, step, table


def _processes(api: Client, app_id: str, as_json: bool) -> None:
    procs = list(api.pages(app_path(app_id, "containers")))
    show(procs, as_json, lambda ps: f"=== {app_id} Processes\n" + table(_process_rows(ps), PROCESS_HEADERS))


@verb("builds:create")
@click.argument("image")
@app_option
@click.option("-p", "--procfile", help="Procfile as YAML text, e.g. 'web: ./server' (default: ./Procfile if any)")
@json_option
def builds_create(image: str, app: str | None, procfile: str | None, as_json: bool) -> None:
    """Deploy a Docker image as a new build and release."""
    app_id = app_of(app)
    if procfile is None and Path("Procfile").is_file():
        procfile = Path("Procfile").read_text()
    body = {"image": image, **({"procfile": procfile} if procfile else {})}
    step(f"Deploying {image} to {app_id}... (waits for the new processes to be up)")
    response = client().post(app_path(app_id, "builds"), body, expect=(201,))
    release = response.headers.get("Deis-Release")
    note(f"done, v{release}" if release else "done")
    show(response.json(), as_json, lambda b: f"build {b['uuid']} of {b['image']}")


@verb("builds:list")
@app_option
@json_option
def builds_list(app: str | None, as_json: bool) -> None:
    """The app's builds, newest first."""
    rows = list(client().pages(app_path(app_of(app), "builds")))
    show(rows, as_json, lambda rs: table([(b["uuid"], b["image"], b["sha"] or None, b["created"]) for b in rs],
                                         ("UUID", "IMAGE", "SHA", "CREATED")))


@verb("releases:list")
@app_option
@json_option
def releases_list(app: str | None, as_json: bool) -> None:
    """The app's releases, newest first."""
    app_id = app_of(app)
    rows = list(client().pages(app_path(app_id, "releases")))
    show(rows, as_json, lambda rs: f"=== {app_id} Releases\n" + table(
        [(f"v{r['version']}", r.get("state"), r["created"], r["summary"]) for r in rs],
        ("VERSION", "STATE", "CREATED", "SUMMARY")))


def _version(text: str) -> int:
    match = re.fullmatch(r"v?(\d+)", text)
    if not match:
        raise CliError(f"{text!r} is not a release version (e.g. v3)", USAGE)
    return int(match.group(1))


@verb("releases:info")
@click.argument("version")
@app_option
@json_option
def releases_info(version: str, app: str | None, as_json: bool) -> None:
    """One release: who made it, when, its build and config."""
    app_id = app_of(app)
    release = client().get(app_path(app_id, "releases", f"v{_version(version)}"))
    fields = ("version", "state", "summary", "owner", "created", "build", "config", "failure")
    show(release, as_json, lambda r: f"=== {app_id} Release v{r['version']}\n" + "\n".join(
        f"{name + ':':<10} {r.get(name) if r.get(name) not in (None, '') else '-'}" for name in fields))


@verb("releases:rollback")
@click.argument("version", required=False)
@app_option
def releases_rollback(version: str | None, app: str | None) -> None:
    """Roll back to an earlier release (default: the one before the current)."""
    app_id = app_of(app)
    target = _version(version) if version else None
    step(f"Rolling back {app_id}" + (f" to v{target}" if target else "") + "...")
    body = client().post(app_path(app_id, "releases", "rollback"), {"version": target}, expect=(201,)).json()
    note(f"done, v{body['version']}")


@verb("ps:list")
@app_option
@json_option
def ps_list(app: str | None, as_json: bool) -> None:
    """The app's processes: state, health and release."""
    app_id = app_of(app)
    _processes(client(), app_id, as_json)


@verb("ps:scale")
@click.argument("counts", nargs=-1, required=True, metavar="TYPE=N...")
@app_option
@json_option
def ps_scale(counts: tuple[str, ...], app: str | None, as_json: bool) -> None:
    """Set how many processes of each type run: app-layer ps:scale web=3 worker=1."""
    app_id = app_of(app)
    wanted = pairs(counts, "TYPE=N")
    api = client()
    step(f"Scaling {app_id}: " + " ".join(f"{t}={n}" for t, n in wanted.items()) + "...")
    api.post(app_path(app_id, "scale"), wanted, expect=(204,))
    note("done")
    _processes(api, app_id, as_json)


@verb("ps:restart")
@click.argument("target", required=False, metavar="[TYPE[.NUM]]")
@app_option
@json_option
def ps_restart(target: str | None, app: str | None, as_json: bool) -> None:
    """Restart all processes, those of one type, or one process (web.2)."""
    app_id = app_of(app)
    rest: list[str] = ["containers"]
    if target:
        match = re.fullmatch(r"([a-z][a-z0-9_-]*)(?:\.(\d+))?", target)
        if not match:
            raise CliError(f"{target!r}: expected TYPE or TYPE.NUM, e.g. web or web.2", USAGE)
        rest += [match.group(1)] + ([match.group(2)] if match.group(2) else [])
    rest.append("restart")
    step(f"Restarting {target or 'all processes'} of {app_id}...")
    procs = client().post(app_path(app_id, *rest), expect=(200,)).json()
    note(f"done, {len(procs)} restarted")
    show(procs, as_json, lambda ps: table(_process_rows(ps), PROCESS_HEADERS))
