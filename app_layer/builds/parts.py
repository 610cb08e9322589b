"""The builder's parts of ``app-layer up``: the registry and the sshd."""
from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable

from app_layer.builds import registry
from app_layer.settings import Settings


def tcp_open(host: str, port: int) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with socket.create_connection((host, port), timeout=1):
                return True
        except OSError:
            return False

    return check


def builder_parts(settings: Settings, host: str, part: type) -> list:
    """``Part``s (the supervisor's class, passed in) for the registry and the sshd."""
    cli = [sys.executable, "-m", "app_layer.cli.main"]
    parts = []
    if registry.is_local(settings.registry, host):
        reg_host, _, reg_port = settings.registry.rpartition(":")
        reg_host = "127.0.0.1" if reg_host == "localhost" else reg_host
        parts.append(part("registry", [*cli, "registry"], f"http://{settings.registry}/v2/",
                          tcp_open(reg_host, int(reg_port))))
    if os.geteuid() == 0:  # sshd switches to the git account: it needs root
        ssh_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        parts.append(part("sshd", [*cli, "sshd", "--host", host],
                          f"ssh://git@{ssh_host}:{settings.ssh_port}/<app>.git",
                          tcp_open(ssh_host, settings.ssh_port)))
    else:
        print("app-layer: not root, so no builder sshd (git push over HTTP works: "
              f"http://{host}:{settings.api_port}/<app>.git)", file=sys.stderr)
    return parts
