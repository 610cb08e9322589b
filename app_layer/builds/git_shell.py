"""The forced command of every builder SSH key: ``app-layer git-shell <username> <fingerprint>``.

sshd runs it instead of whatever the client asked for; the client's command is in
``SSH_ORIGINAL_COMMAND``. Only ``git-receive-pack`` (push) and ``git-upload-pack`` (clone, fetch)
of ``'<app>.git'``, ``'/<app>.git'`` or ``'<app>'`` pass. The user's right to the app is checked
with the controller before anything is received; then git's own program is exec'd with an argv
list, never through a shell.
"""
from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass

import requests

from app_layer.builds import repos
from app_layer.builds.config import BuilderConfig, Controller, detail

_COMMAND = re.compile(r"^(git-receive-pack|git-upload-pack) ('?)/?([a-z0-9-]+?)(?:\.git)?\2$")


@dataclass(frozen=True)
class GitCommand:
    service: str  # git-receive-pack or git-upload-pack
    app: str

    @property
    def is_push(self) -> bool:
        return self.service == "git-receive-pack"


def parse(original: str) -> GitCommand | None:
    """The git command sshd was asked to run, or None for anything else."""
    match = _COMMAND.match(original or "")
    if match is None or not repos.APP_ID.match(match.group(3)):
        return None
    return GitCommand(match.group(1), match.group(3))


def refuse(message: str) -> int:
    sys.stderr.write(f"\n !     {message}\n\n")
    sys.stderr.flush()
    return 1


def check_access(config: BuilderConfig, username: str, command: GitCommand) -> str | None:
    """None if ``username`` may use the app, else the reason, as the controller gives it."""
    try:
        status, body = Controller(config).call("POST", "/v1/hooks/config/",
                                               {"receive_user": username, "receive_repo": command.app})
    except requests.RequestException:
        return "The platform's controller is not answering; try again in a moment."
    if status == 200:
        return None
    if status == 404:
        return f"There is no app named {command.app!r}. Create it first: deis apps:create {command.app}"
    if status == 403:
        return f"{username} may not {'push to' if command.is_push else 'read'} {command.app}."
    return f"The controller refused: {detail(body)}"


def run(config: BuilderConfig, username: str, fingerprint: str, original: str) -> int:
    """Check, then exec git's program; returns an exit status only when refusing."""
    command = parse(original)
    if command is None:
        shown = (original or "an interactive shell")[:80]
        return refuse(f"Only git push and git fetch/clone work here, not {shown!r}.")
    reason = check_access(config, username, command)
    if reason is not None:
        return refuse(reason)
    if not command.is_push:
        path = repos.repo_path(config.repos, command.app)
        if not (path / "HEAD").exists():
            return refuse(f"{command.app} has no code yet; git push to it first.")
        os.execvp("git-upload-pack", ["git-upload-pack", "--strict", str(path)])
    path = repos.ensure_repo(config.repos, command.app)

    def waiting() -> None:
        sys.stderr.write(f"-----> Another push to {command.app} is in progress; waiting for it to finish...\n")
        sys.stderr.flush()

    env = dict(os.environ, **config.to_env(), RECEIVE_USER=username, RECEIVE_REPO=command.app,
               RECEIVE_FINGERPRINT=fingerprint, **{repos.LOCK_HELD_ENV: "1"})
    # The lock is held across the exec: receive-pack and its hook keep the descriptor until they exit,
    # so the second push gets its ref advertisement only after the first one has finished.
    with repos.push_lock(config.locks, command.app, waiting, inheritable=True):
        os.execvpe("git-receive-pack", ["git-receive-pack", str(path)], env)
    return 1  # not reached
