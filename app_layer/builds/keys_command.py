"""sshd's ``AuthorizedKeysCommand``: one authorized_keys line for a key the controller knows.

sshd passes the offered key's fingerprint (``%f``, ``SHA256:...``); the controller answers with
the key's owner (``GET /v1/hooks/key/<fingerprint>``). The line forces ``app-layer git-shell
<username> <fingerprint>`` and ``restrict`` (no pty, no forwarding of any kind). An unknown key
gets no line, so sshd refuses it and the client may offer its next key.
"""
from __future__ import annotations

import re
import shlex
import sys
from urllib.parse import quote

import requests

from app_layer.builds.config import BuilderConfig, Controller

KEY_TYPE = re.compile(r"^[a-z][a-z0-9@.-]{2,63}$")  # the controller validated the key; this guards the line
KEY_DATA = re.compile(r"^[A-Za-z0-9+/]+={0,3}$")
USERNAME_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.@+-")


def forced_command(python: str, config_path: str, username: str, fingerprint: str) -> str:
    """The command sshd runs for this key (a shell line: every part quoted)."""
    argv = [python, "-m", "app_layer.cli.main", "git-shell", "--config", config_path, username, fingerprint]
    return " ".join(shlex.quote(a) for a in argv)


def authorized_line(python: str, config_path: str, username: str, fingerprint: str, public: str) -> str | None:
    """The authorized_keys line, or None if anything in it could break out of the options."""
    parts = public.split()
    if len(parts) < 2 or not KEY_TYPE.match(parts[0]) or not KEY_DATA.match(parts[1]) \
            or not username or not set(username) <= USERNAME_SAFE:
        return None
    command = forced_command(python, config_path, username, fingerprint)
    if '"' in command or "\\" in command or "\n" in command:
        return None
    return f'command="{command}",restrict {parts[0]} {parts[1]}'


def lookup(config: BuilderConfig, fingerprint: str) -> dict | None:
    status, body = Controller(config, timeout=10).call("GET", f"/v1/hooks/key/{quote(fingerprint, safe='')}/")
    return body if status == 200 else None


def run(config_path: str, fingerprint: str) -> int:
    """Print the line for ``fingerprint`` (nothing if unknown); sshd reads our stdout."""
    config = BuilderConfig.read(config_path)
    try:
        found = lookup(config, fingerprint)
    except requests.RequestException as exc:
        print(f"app-layer: controller not answering at {config.controller}: {exc.__class__.__name__}",
              file=sys.stderr)
        return 1
    if found is None:
        return 0
    line = authorized_line(sys.executable, config_path, found["username"], fingerprint, found["public"])
    if line:
        print(line)
    return 0
