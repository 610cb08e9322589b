"""Small helpers shared by the test fixtures."""
from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import requests


def stop_process(proc: subprocess.Popen, grace: float = 10) -> None:
    """SIGTERM, then SIGKILL if ``proc`` has not exited within ``grace`` seconds."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def http_ok(url: str) -> Callable[[], bool]:
    """A readiness check: ``url`` answers 200."""
    def check() -> bool:
        try:
            return requests.get(url, timeout=2).status_code == 200
        except requests.RequestException:
            return False

    return check


def wait_started(proc: subprocess.Popen, ready: Callable[[], bool], what: str, log: Path,
                 deadline: float, interval: float = 0.1) -> None:
    """Wait until ``ready()``; if ``proc`` exits or ``deadline`` seconds pass first, fail with its log's tail."""
    until = time.monotonic() + deadline
    while not ready():
        if proc.poll() is not None or time.monotonic() > until:
            raise RuntimeError(f"{what} did not start:\n{log.read_text()[-3000:]}")
        time.sleep(interval)
