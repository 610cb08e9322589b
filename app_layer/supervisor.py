"""``app-layer up``: start every part of the platform as a child process, report where each answers,
and stop them all on Ctrl-C (or when any of them dies)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

from app_layer.settings import Settings


@dataclass
class Part:
    name: str
    argv: list[str]
    url: str
    ready: Callable[[], bool] = field(default=lambda: True)
    env: dict[str, str] = field(default_factory=dict)


def http_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return response.status < 500
        except OSError:
            return False

    return check


def parts(settings: Settings, host: str) -> list[Part]:
    """The parts of the embedded platform, in start order."""
    from app_layer.builds.parts import builder_parts

    api = f"http://{host}:{settings.api_port}"
    return builder_parts(settings, host, Part) + [
        Part("controller", [sys.executable, "-m", "app_layer.cli.main", "server", "--host", host,
                            "--port", str(settings.api_port)], api, http_ok(f"{api}/healthz")),
        Part("publisher", [sys.executable, "-m", "app_layer.cli.main", "publisher"], settings.routes),
        Part("router", [sys.executable, "-m", "app_layer.cli.main", "router", "--host", host,
                        "--controller", f"{host}:{settings.api_port}"],
             f"http://<app>.{settings.domain}:{settings.router_port}",
             http_ok(f"http://{host}:{settings.router_port}/healthz")),
    ]


def run_platform(settings: Settings, host: str, deadline: float = 60.0) -> int:
    """Start the parts, wait until each is ready, then supervise; returns the exit status."""
    settings = settings.with_secrets()
    children: list[tuple[Part, subprocess.Popen]] = []
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        for part in parts(settings, host):
            proc = subprocess.Popen(part.argv, env={**os.environ, **part.env}, start_new_session=True)
            children.append((part, proc))
            until = time.monotonic() + deadline
            while not part.ready():
                if proc.poll() is not None or time.monotonic() > until or stopping:
                    print(f"app-layer: {part.name} did not start", file=sys.stderr)
                    return 1
                time.sleep(0.1)
            print(f"app-layer: {part.name:<12} {part.url}", flush=True)
        print("app-layer: ready; Ctrl-C stops everything", flush=True)
        while not stopping:
            for part, proc in children:
                if proc.poll() is not None:
                    print(f"app-layer: {part.name} exited with {proc.returncode}; stopping", file=sys.stderr)
                    return 1
            time.sleep(0.2)
        return 0
    finally:
        for _part, proc in reversed(children):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for _part, proc in reversed(children):
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
