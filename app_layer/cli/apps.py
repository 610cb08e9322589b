"""App verbs: apps:create/list/info/open/destroy/transfer, git:remote, logs, run."""
from __future__ import annotations

import json
import os
import sys
import time
import webbrowser
from collections import deque
from pathlib import Path

import click

from app_layer.cli import local
from app_layer.cli.client import API_ERROR, USAGE, Client, CliError, app_path
from app_layer.cli.common import app_of, app_option, client, verb
from app_layer.cli.output import json_option, note, show, step, table


@verb("apps:create")
@click.argument("app_id", metavar="[APP]", required=False)
@click.option("--no-remote", is_flag=True, help="do not add a git remote, only print its URL")
@click.option("-r", "--remote", default=local.REMOTE, show_default=True, help="name of the git remote to add")
@json_option
def apps_create(app_id: str | None, no_remote: bool, remote: str, as_json: bool) -> None:
    """Create an app (a random name unless one is given); adds a git remote inside a git repository."""
    api = client()
    in_repo = local.in_git_repo()
    if in_repo and not no_remote and local.remote_url(remote) is not None:
        raise CliError(f"A git remote named {remote} already exists; use -r NAME or --no-remote.", USAGE)
    if app_id is None and not in_repo and local.APP_ID.match(Path.cwd().name):
        app_id = Path.cwd().name
    step("Creating application" + (f" {app_id}" if app_id else ""))
    app = api.post("/v1/apps/", {"id": app_id} if app_id else {}, expect=(201,)).json()
    url = local.ssh_remote(api.base, app["id"])
    if in_repo and not no_remote:
        local.add_remote(remote, url)
        note(f"Git remote {remote} added: {url}")
    else:
        note(f"Git remote: {url}")
    show(app, as_json, lambda a: f"created {a['id']}")


@verb("apps:list")
@json_option
def apps_list(as_json: bool) -> None:
    """The apps you may use."""
    rows = list(client().pages("/v1/apps/"))
    show(rows, as_json, lambda rs: table([(a["id"], a["owner"], a["url"]) for a in rs], ("APP", "OWNER", "URL")))


def _process_rows(procs: list[dict]) -> list[tuple]:
    health = {True: "healthy", False: "unhealthy", None: "unchecked"}
    return [(f"{p['type']}.{p['num']}", p["state"], health.get(p.get("healthy")), p["release"], p["updated"])
            for p in procs]


PROCESS_HEADERS = ("PROCESS", "STATE", "HEALTH", "RELEASE", "UPDATED")


@verb("apps:info")
@app_option
@json_option
def apps_info(app: str | None, as_json: bool) -> None:
    """An app's owner, URL, formation, processes and domains."""
    api = client()
    app_id = app_of(app)
    info = api.get(app_path(app_id))
    info["processes"] = list(api.pages(app_path(app_id, "containers")))
    try:
        info["domains"] = [d["domain"] for d in api.pages(app_path(app_id, "domains"))]
    except CliError as exc:  # a controller without custom domains
        if exc.code != API_ERROR:
            raise
        info["domains"] = []

    def render(i: dict) -> str:
        formation = " ".join(f"{t}={n}" for t, n in sorted(i["structure"].items())) or "(none)"
        lines = [f"=== {i['id']} Application", f"owner:      {i['owner']}", f"url:        http://{i['url']}",
                 f"formation:  {formation}", f"created:    {i['created']}", "", f"=== {i['id']} Processes",
                 table(_process_rows(i["processes"]), PROCESS_HEADERS), "", f"=== {i['id']} Domains",
                 *(i["domains"] or ["(none)"])]
        return "\n".join(lines)

    show(info, as_json, render)


@verb("apps:open")
@app_option
def apps_open(app: str | None) -> None:
    """Print the app's URL (on APP_LAYER_ROUTER_PORT if set), and open it in a browser at a terminal."""
    info = client().get(app_path(app_of(app)))
    port = os.environ.get("APP_LAYER_ROUTER_PORT", "")  # the router's port, when not 80
    url = f"http://{info['url']}{':' + port if port.isdigit() and port != '80' else ''}/"
    click.echo(url)
    if sys.stdout.isatty():
        webbrowser.open(url)


@verb("apps:destroy")
@app_option
@click.option("--confirm", metavar="APP", help="skip the prompt: the app's name, to be sure")
def apps_destroy(app: str | None, confirm: str | None) -> None:
    """Destroy an app, its processes and its history."""
    app_id = app_of(app)
    api = client()
    if confirm is None:
        if not sys.stdin.isatty():
            raise CliError(f"Refusing to destroy {app_id} without --confirm={app_id}.", USAGE)
        note(f" !    WARNING: Potentially Destructive Action\n !    This command will destroy: {app_id}")
        confirm = click.prompt(" !    To proceed, type the name of the app", default="", show_default=False)
    if confirm != app_id:
        raise CliError(f"Confirmation {confirm!r} did not match {app_id}; nothing was destroyed.", USAGE)
    step(f"Destroying {app_id}")
    api.delete(app_path(app_id), expect=(204,))
    if app is None and local.in_git_repo() and local.app_from_remote() == app_id:
        local.remove_remote(local.REMOTE)
        note(f"Git remote {local.REMOTE} removed")
    note(f"Destroyed {app_id}")


@verb("apps:transfer")
@click.argument("username")
@app_option
def apps_transfer(username: str, app: str | None) -> None:
    """Give an app to another user."""
    app_id = app_of(app)
    client().post(app_path(app_id), {"owner": username}, expect=(200,))
    note(f"Transferred {app_id} to {username}")


@verb("git:remote")
@app_option
@click.option("-r", "--remote", default=local.REMOTE, show_default=True, help="name of the git remote")
def git_remote(app: str | None, remote: str) -> None:
    """Add the app's git remote to the repository here."""
    api = client()
    app_id = app_of(app)
    api.get(app_path(app_id))  # the app must exist and be yours
    if not local.in_git_repo():
        raise CliError("Not inside a git repository.", USAGE)
    url = local.ssh_remote(api.base, app_id)
    existing = local.remote_url(remote)
    if existing == url:
        note(f"Git remote {remote} already points at {url}")
        return
    if existing is not None:
        raise CliError(f"A git remote named {remote} already exists ({existing}); use -r NAME.", USAGE)
    local.add_remote(remote, url)
    note(f"Git remote {remote} added: {url}")


# --- logs and run -------------------------------------------------------------------------------


def _log_lines(api: Client, app_id: str, lines: int) -> list[str]:
    response = api.request("GET", app_path(app_id, "logs"), params={"log_lines": lines}, expect=(200, 204))
    if response.status_code == 204:
        return []
    text = response.text
    if response.headers.get("Content-Type", "").startswith("application/json"):
        text = json.loads(text)
    return text.splitlines()


@verb("logs")
@app_option
@click.option("-n", "--lines", type=click.IntRange(0, 100_000), default=100, show_default=True,
              help="how many of the newest lines")
@click.option("-f", "--follow", is_flag=True, help="keep printing new lines until interrupted")
@click.option("--interval", type=click.FloatRange(0.2, 60), default=2.0, show_default=True, hidden=True,
              help="seconds between polls when following")
def logs(app: str | None, lines: int, follow: bool, interval: float) -> None:
    """The app's log: platform events and process output, oldest first."""
    api = client()
    app_id = app_of(app)
    seen: deque[str] = deque(maxlen=5000)
    for line in _log_lines(api, app_id, lines):
        click.echo(line)
        seen.append(line)
    try:
        while follow:  # poll: the API serves the newest lines; print the ones not printed yet
            time.sleep(interval)
            known = set(seen)
            for line in _log_lines(api, app_id, 1000):
                if line not in known:
                    click.echo(line)
                    seen.append(line)
                    known.add(line)
            sys.stdout.flush()
    except KeyboardInterrupt:
        return


@verb("run", context_settings={"ignore_unknown_options": True})
@app_option
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run(app: str | None, command: tuple[str, ...]) -> None:
    """Run a one-off command in a new process of the app; exits with the command's status.

    Put -- before the command: app-layer run -- ls -al
    """
    app_id = app_of(app)
    line = " ".join(command)
    note(f"Running '{line}' on {app_id}...")
    response = client().post(app_path(app_id, "run"), {"command": line}, expect=(200,))
    try:
        rc, output = json.loads(response.text)
    except (ValueError, TypeError):
        raise CliError("The controller's answer to run was not [status, output].") from None
    click.echo(output, nl=False)
    sys.exit(int(rc))
