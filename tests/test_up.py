"""The README's first command, tried as a new user would: start the platform, then use it with curl."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def curl(*args: str) -> tuple[int, dict | list | str]:
    out = subprocess.run(["curl", "-s", "-w", "\n%{http_code}", *args], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    body, _, status = out.rpartition("\n")
    try:
        return int(status), json.loads(body) if body else ""
    except ValueError:
        return int(status), body


@pytest.fixture
def running_platform(tmp_path):  # type: ignore[no-untyped-def]
    env = {**os.environ, "APP_LAYER_DATA_DIR": str(tmp_path / "data"), "APP_LAYER_SCHEDULER": "memory",
           "APP_LAYER_API_PORT": str(free_port()), "APP_LAYER_SSH_PORT": str(free_port()),
           "APP_LAYER_ROUTER_PORT": str(free_port()), "APP_LAYER_ROUTER_TLS_PORT": str(free_port()),
           "APP_LAYER_REGISTRY": f"127.0.0.1:{free_port()}"}
    proc = subprocess.Popen([sys.executable, "-m", "app_layer.cli.main", "up"], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    deadline = time.monotonic() + 120
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "ready" in line:
            break
    assert any("ready" in line for line in lines), "".join(lines)
    yield f"http://127.0.0.1:{env['APP_LAYER_API_PORT']}", lines, proc
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(60)


def test_new_user_flow_with_curl(running_platform):
    api, lines, proc = running_platform
    assert any("controller" in line and api in line for line in lines)
    assert curl(f"{api}/v1/")[0] == 401
    status, _ = curl("-X", "POST", f"{api}/v1/auth/register", "-d", "username=ann", "-d", "password=pw",
                     "-d", "email=ann@example.com")
    assert status == 201
    status, body = curl("-X", "POST", f"{api}/v1/auth/login/", "-d", "username=ann", "-d", "password=pw")
    assert status == 200
    auth = ["-H", f"Authorization: token {body['token']}", "-H", "Content-Type: application/json"]
    status, app = curl(*auth, "-X", "POST", f"{api}/v1/apps", "-d", '{"id": "curl-app"}')
    assert status == 201 and app["id"] == "curl-app"
    status, config = curl(*auth, "-X", "POST", f"{api}/v1/apps/curl-app/config", "-d", '{"values": {"A": "1"}}')
    assert status == 201 and config["values"] == {"A": "1"}
    status, config = curl(*auth, "-X", "POST", f"{api}/v1/apps/curl-app/config", "-d", '{"values": {"A": null}}')
    assert status == 201 and config["values"] == {}
    status, history = curl(*auth, f"{api}/v1/apps/curl-app/releases")
    assert status == 200 and [r["version"] for r in history["results"]] == [3, 2, 1]
    status, body = curl(*auth, "-X", "POST", f"{api}/v1/apps/curl-app/releases/rollback", "-d", '{"version": 2}')
    assert status == 201 and body == {"version": 4}
    status, config = curl(*auth, f"{api}/v1/apps/curl-app/config")
    assert config["values"] == {"A": "1"}


def test_ctrl_c_stops_everything(running_platform):
    api, _lines, proc = running_platform
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(60) == 0
    assert subprocess.run(["curl", "-s", "-o", "/dev/null", f"{api}/healthz"]).returncode != 0
