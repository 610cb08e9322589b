"""What the user verbs read from the working directory: the git remote, the app name, ``.env`` files.

git is always run with an argument list, never through a shell.
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from app_layer.cli.client import USAGE, CliError

REMOTE = "app-layer"
_REMOTE_APP = re.compile(r"[/:](?P<app>[a-z0-9-]+?)(?:\.git)?/?$")
APP_ID = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


def git(*args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True, timeout=30, check=False)
    except FileNotFoundError:
        return subprocess.CompletedProcess(["git", *args], 127, "", "git is not installed")


def in_git_repo() -> bool:
    return git("rev-parse", "--git-dir").returncode == 0


def remote_url(name: str = REMOTE) -> str | None:
    result = git("remote", "get-url", name)
    return result.stdout.strip() if result.returncode == 0 else None


def app_from_remote(name: str = REMOTE) -> str | None:
    url = remote_url(name)
    match = _REMOTE_APP.search(url) if url else None
    return match.group("app") if match else None


def infer_app(given: str | None) -> str:
    """``-a/--app``, else the ``app-layer`` git remote, else the directory's name."""
    if given:
        return given
    from_remote = app_from_remote() if in_git_repo() else None
    if from_remote:
        return from_remote
    name = Path.cwd().name
    if APP_ID.match(name):
        return name
    raise CliError("Cannot tell which app: pass -a/--app, or run inside the app's git repository.", USAGE)


def ssh_remote(controller: str, app: str) -> str:
    """The builder's git URL: the controller's host name on the builder's SSH port."""
    host = urlsplit(controller).hostname or "localhost"
    if ":" in host:
        host = f"[{host}]"
    port = os.environ.get("APP_LAYER_SSH_PORT") or "2222"
    return f"ssh://git@{host}:{port}/{app}.git"


def add_remote(name: str, url: str) -> None:
    result = git("remote", "add", name, url)
    if result.returncode != 0:
        raise CliError(f"git remote add {name} failed: {result.stderr.strip()}", USAGE)


def remove_remote(name: str) -> None:
    git("remote", "remove", name)


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=value`` lines; blank lines and ``#`` comments skipped, ``export`` and quotes allowed."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}", USAGE) from None
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").lstrip()
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise CliError(f"{path}:{number}: expected KEY=value", USAGE)
        values[key.strip()] = _unquote(value.strip())
    return values


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1]
    if len(value) >= 2 and value[0] == value[-1] == '"':
        out, chars = [], iter(value[1:-1])
        for ch in chars:
            if ch == "\\":
                nxt = next(chars, "")
                out.append({"n": "\n", "t": "\t"}.get(nxt, nxt))
            else:
                out.append(ch)
        return "".join(out)
    return value


def env_line(key: str, value: str) -> str:
    """One ``.env`` line that ``read_env_file`` reads back to the same value."""
    if re.fullmatch(r"[\w@%+=:,./-]*", value):
        return f"{key}={value}"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'{key}="{escaped}"'


def write_env_file(path: Path, values: dict[str, str]) -> None:
    path.write_text("".join(env_line(k, v) + "\n" for k, v in values.items()))
