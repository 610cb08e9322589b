"""The controller under gunicorn (the production WSGI server), plus the backend's worker loop."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from typing import Any

from gunicorn.app.base import BaseApplication

from app_layer.settings import Settings


def gunicorn_options(settings: Settings, host: str, port: int, workers: int | None = None) -> dict[str, Any]:
    """gthread workers: threads carry rollouts that wait for health; the timeout outlasts a rollout.

    Each worker listens on its own ``SO_REUSEPORT`` socket, so the kernel spreads connections
    evenly: on one shared socket, whichever worker wakes first can take every connection of a
    burst, and a keep-alive client then stays on that one process (one core) for good.
    """
    return {
        "bind": f"{host}:{port}",
        "reuse_port": True,
        "workers": workers or max(2, (os.cpu_count() or 1)),
        "worker_class": "gthread",
        "threads": 8,
        "timeout": int(settings.deploy_timeout + 60),
        "graceful_timeout": 10,
        "keepalive": 5,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        "preload_app": False,
    }


class ControllerServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]):
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):  # type: ignore[no-untyped-def]
        from app_layer.wsgi import application

        return application

    def run(self) -> None:
        ensure_free(self.options["bind"])
        super().run()


def ensure_free(bind: str) -> None:
    """Refuse a port something already listens on. With ``SO_REUSEPORT`` a second controller would
    otherwise share the port with the first, each taking part of the connections, instead of failing."""
    host, _, port = bind.rpartition(":")
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the listener: TIME_WAIT is no conflict
        try:
            probe.bind((host.strip("[]"), int(port)))
        except OSError as exc:
            raise SystemExit(f"app-layer server: cannot listen on {bind}: {exc.strerror}") from None


def start_worker_process() -> subprocess.Popen | None:
    """The reconciler and other backend workers run beside the web server, in their own process."""
    return subprocess.Popen([sys.executable, "-m", "app_layer.cli.main", "worker"])
