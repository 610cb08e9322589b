"""The controller under gunicorn (the production WSGI server), plus the backend's worker loop."""
from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from gunicorn.app.base import BaseApplication

from app_layer.settings import Settings


def gunicorn_options(settings: Settings, host: str, port: int, workers: int | None = None) -> dict[str, Any]:
    """gthread workers: threads carry rollouts that wait for health; the timeout outlasts a rollout."""
    return {
        "bind": f"{host}:{port}",
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


def start_worker_process() -> subprocess.Popen | None:
    """The reconciler and other backend workers run beside the web server, in their own process."""
    return subprocess.Popen([sys.executable, "-m", "app_layer.cli.main", "worker"])
