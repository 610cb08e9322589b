"""The builder's sshd: Debian's OpenSSH with a config of its own, or a snippet for a system sshd.

Clients push to ``ssh://git@<host>:2222/<app>.git`` (the remote the Deis clients set). sshd asks
``app-layer authorized-keys`` for each offered key (``AuthorizedKeysCommand``) and runs only the
forced command ``app-layer git-shell``. Passwords, ttys and forwarding are off.

The ``git`` account: builds need the Docker Engine and the platform's data dir exactly as the
platform has them, so on a host where the platform runs as root the embedded sshd logs ``git``
in as an alias of the platform's own account (same uid), created on first start. The forced
command and ``restrict`` are the boundary: that account can run nothing else.
"""
from __future__ import annotations

import os
import pwd
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from app_layer.builds.config import BuilderConfig
from app_layer.settings import Settings

GIT_USER = "git"
SSHD = "/usr/sbin/sshd"
HOST_KEY_TYPES = ("ed25519", "rsa")


class SshdError(RuntimeError):
    """The embedded sshd cannot run on this host as configured; the message says why."""


@dataclass(frozen=True)
class SshdLayout:
    """Where the embedded sshd keeps its files (under the data dir)."""

    root: Path

    @classmethod
    def of(cls, settings: Settings) -> SshdLayout:
        return cls(settings.data_dir / "sshd")

    @property
    def config(self) -> Path:
        return self.root / "sshd_config"

    @property
    def builder_config(self) -> Path:
        return self.root / "builder.json"

    def host_key(self, kind: str) -> Path:
        return self.root / f"ssh_host_{kind}_key"


def keys_command(python: str, builder_config: Path) -> str:
    """``AuthorizedKeysCommand``'s value (sshd splits it on spaces, honouring double quotes)."""
    parts = [python, "-m", "app_layer.cli.main", "authorized-keys", "--config", str(builder_config), "%f"]
    for part in parts:
        if any(c in part for c in ' "\t\n'):
            raise SshdError(f"sshd cannot run a command from a path with spaces or quotes: {part!r}")
    return " ".join(parts)


def auth_options(python: str, builder_config: Path, keys_user: str) -> list[str]:
    """The options that make sshd the builder's: key lookup, forced command, nothing else."""
    return [
        "AuthorizedKeysFile none",
        f"AuthorizedKeysCommand {keys_command(python, builder_config)}",
        f"AuthorizedKeysCommandUser {keys_user}",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitTTY no",
        "X11Forwarding no",
        "AllowTcpForwarding no",
        "AllowAgentForwarding no",
        "AllowStreamLocalForwarding no",
        "PermitTunnel no",
        "PermitUserRC no",
    ]


def render_config(layout: SshdLayout, host: str, port: int, python: str, keys_user: str, as_root: bool) -> str:
    """The embedded sshd's whole config (pure)."""
    lines = [
        "# Written by app-layer: the builder's own sshd (git push over SSH). Regenerated on start.",
        f"ListenAddress {host}",
        f"Port {port}",
        *(f"HostKey {layout.host_key(kind)}" for kind in HOST_KEY_TYPES),
        f"PidFile {layout.root / 'sshd.pid'}",
        f"AllowUsers {GIT_USER if as_root else keys_user}",
        # The git account shares the platform's uid; with root that needs forced commands allowed.
        f"PermitRootLogin {'forced-commands-only' if as_root else 'no'}",
        "UsePAM no",
        "PermitUserEnvironment no",
        "AcceptEnv GIT_PROTOCOL",
        "PrintMotd no",
        "PrintLastLog no",
        "StrictModes no",
        "LoginGraceTime 30",
        "ClientAliveInterval 30",
        "LogLevel ERROR",
        *auth_options(python, layout.builder_config, keys_user),
    ]
    return "\n".join(lines) + "\n"


def operator_snippet(python: str, builder_config: Path, keys_user: str) -> str:
    """What an operator adds to a system sshd_config to serve git push for ``git``."""
    head = [
        "# app-layer: git push over SSH. Add to /etc/ssh/sshd_config and reload sshd.",
        f"# The {GIT_USER} account must exist, be able to run {python}, read {builder_config}",
        "# (written just now, mode 0600), use the Docker Engine and write the platform's data dir.",
        f"Match User {GIT_USER}",
    ]
    return "\n".join(head + [f"    {line}" for line in auth_options(python, builder_config, keys_user)]) + "\n"


def ensure_host_keys(layout: SshdLayout) -> None:
    layout.root.mkdir(parents=True, exist_ok=True)
    os.chmod(layout.root, 0o700)
    for kind in HOST_KEY_TYPES:
        path = layout.host_key(kind)
        if not path.exists():
            subprocess.run(["ssh-keygen", "-q", "-N", "", "-t", kind, "-C", "app-layer-builder", "-f", str(path)],
                           check=True, stdout=subprocess.DEVNULL)


def ensure_git_account() -> None:
    """Create the ``git`` login as an alias of the platform's (root) account, if missing."""
    try:
        entry = pwd.getpwnam(GIT_USER)
    except KeyError:
        subprocess.run(["useradd", "--non-unique", "--uid", str(os.getuid()), "--gid", str(os.getgid()),
                        "--no-create-home", "--home-dir", "/", "--shell", "/bin/sh", "--password", "*",
                        "--comment", "app-layer git push", GIT_USER], check=True)
        return
    if entry.pw_uid != os.getuid():
        raise SshdError(f"an account named {GIT_USER!r} already exists with uid {entry.pw_uid}; the embedded "
                        f"sshd logs {GIT_USER} in as the platform's own account. Use a system sshd with "
                        "`app-layer sshd-config` instead.")


def prepare(settings: Settings, host: str, port: int, controller: str | None = None) -> SshdLayout:
    """Host keys, the builder config and sshd_config under the data dir; returns where they are."""
    layout = SshdLayout.of(settings)
    as_root = os.geteuid() == 0
    if as_root:
        ensure_git_account()
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    ensure_host_keys(layout)
    BuilderConfig.from_settings(settings, controller).write(layout.builder_config)
    keys_user = pwd.getpwuid(os.getuid()).pw_name
    layout.config.write_text(render_config(layout, host, port, sys.executable, keys_user, as_root))
    return layout


def argv(layout: SshdLayout) -> list[str]:
    """sshd in the foreground, logging to stderr."""
    return [SSHD, "-D", "-e", "-f", str(layout.config)]


def describe(layout: SshdLayout) -> str:
    return " ".join(shlex.quote(a) for a in argv(layout))
