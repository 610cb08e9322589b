"""Bare repositories of apps, their pre-receive hook, and the per-app push lock."""
from __future__ import annotations

import fcntl
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

APP_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
DEPLOY_REFS = ("refs/heads/master", "refs/heads/main")
LOCK_HELD_ENV = "APP_LAYER_PUSH_LOCK_HELD"  # set: the lock is held already (git-shell took it)
LOCK_FD_ENV = "APP_LAYER_PUSH_LOCK_FD"  # set: lock this inherited descriptor (git over HTTP)


def repo_path(repos: str | Path, app_id: str) -> Path:
    if not APP_ID.match(app_id):
        raise ValueError(f"not an app id: {app_id!r}")
    return Path(repos) / f"{app_id}.git"


def hook_script(python: str = sys.executable) -> str:
    """The pre-receive hook: the builder's Python, run as a module (no user input in it)."""
    return f"#!/bin/sh\nexec {shlex.quote(python)} -m app_layer.builds.hook\n"


def ensure_repo(repos: str | Path, app_id: str, python: str = sys.executable) -> Path:
    """The app's bare repository, created on first push; the hook is (re)written every time."""
    path = repo_path(repos, app_id)
    if not (path / "HEAD").exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "init", "--bare", "--quiet", "--template=", str(path)], check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run(["git", "--git-dir", str(path), "config", "receive.denyDeletes", "false"], check=True)
    hooks = path / "hooks"
    hooks.mkdir(exist_ok=True)
    hook = hooks / "pre-receive"
    script = hook_script(python)
    if not hook.exists() or hook.read_text() != script:
        tmp = hooks / "pre-receive.tmp"
        tmp.write_text(script)
        tmp.chmod(0o755)
        os.replace(tmp, hook)
    return path


def open_lock(locks: str | Path, app_id: str) -> int:
    """A descriptor of the app's push lock file (not locked yet)."""
    repo_path(locks, app_id)  # refuses anything but an app id
    Path(locks).mkdir(parents=True, exist_ok=True)
    return os.open(Path(locks) / f"{app_id}.lock", os.O_RDWR | os.O_CREAT, 0o600)


def acquire(fd: int, waiting: Callable[[], None]) -> None:
    """Lock ``fd``; ``waiting()`` is called once if another push holds the lock.

    The lock belongs to the open file, not to this process: every process that inherited the
    descriptor keeps it locked until the last of them has exited.
    """
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        waiting()
        fcntl.flock(fd, fcntl.LOCK_EX)


@contextmanager
def push_lock(locks: str | Path, app_id: str, waiting: Callable[[], None],
              inheritable: bool = False) -> Iterator[int]:
    """Hold the app's push lock for the block (and in children exec'd with the descriptor)."""
    fd = open_lock(locks, app_id)
    try:
        acquire(fd, waiting)
        if inheritable:
            os.set_inheritable(fd, True)
        yield fd
    finally:
        os.close(fd)
