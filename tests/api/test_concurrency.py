"""The production server (gunicorn, several worker processes): concurrent config changes each get
their own consecutive release number and none is lost, on SQLite and PostgreSQL; keep-alive clients
are spread over every worker; a second server on a port in use is refused."""
from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from app_layer.settings import Settings

SERVER = """
import sys
from app_layer.db import Database
from app_layer.server import ControllerServer, gunicorn_options
from app_layer.settings import Settings
settings = Settings.from_env().with_secrets()
Database(settings.database_url).create_all()
ControllerServer(gunicorn_options(settings, "127.0.0.1", int(sys.argv[1]), workers=3)).run()
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _call(base: str, method: str, path: str, body: dict | None = None, token: str = "") -> tuple[int, dict, dict]:
    request = urllib.request.Request(base + path, method=method, data=json.dumps(body or {}).encode(),
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"token {token}"} if token else {})})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            raw = response.read()
            return response.status, dict(response.headers), json.loads(raw) if raw else {}
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read() or b"{}")


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    """The controller under gunicorn (3 worker processes x 8 threads) on the test's database."""
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-c", SERVER, str(port)], env=_env(settings))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2):
                    break
            except OSError:
                assert process.poll() is None, "the server exited"
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(30)


def _env(settings: Settings) -> dict[str, str]:
    return {**os.environ, "APP_LAYER_DATA_DIR": str(settings.data_dir), "APP_LAYER_DATABASE_URL": settings.database_url,
            "APP_LAYER_SCHEDULER": "memory"}


def test_concurrent_config_changes_get_consecutive_releases(server):
    for name in ("admin", "dev"):
        assert _call(server, "POST", "/v1/auth/register", {"username": name, "password": "pw-pw-pw",
                                                            "email": f"{name}@example.com"})[0] == 201
    token = _call(server, "POST", "/v1/auth/login/", {"username": "dev", "password": "pw-pw-pw"})[2]["token"]
    apps = [_call(server, "POST", "/v1/apps", {"id": f"race-{n}"}, token)[2]["id"] for n in range(2)]
    changes = [(app, f"KEY_{n}") for app in apps for n in range(24)]

    def change(item: tuple[str, str]) -> tuple[str, int, str]:
        app, key = item
        status, headers, _ = _call(server, "POST", f"/v1/apps/{app}/config", {"values": {key: "x"}}, token)
        return app, status, headers.get("Deis-Release", "")

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(change, changes))
    assert {status for _, status, _ in results} == {201}
    for app in apps:
        versions = sorted(int(version) for name, _, version in results if name == app)
        assert versions == list(range(2, 26)), app
        status, _, config = _call(server, "GET", f"/v1/apps/{app}/config", token=token)
        assert set(config["values"]) == {key for name, key in changes if name == app}
        listed = _call(server, "GET", f"/v1/apps/{app}/releases?page_size=100", token=token)[2]
        assert [r["version"] for r in listed["results"]] == list(range(25, 0, -1))


def test_keep_alive_clients_are_spread_over_every_worker(server):
    # A burst of connections, as a load balancer or wrk opens them: on one shared listening socket
    # the first worker to wake could take them all, leaving the other cores idle for their lifetime.
    port = int(server.rsplit(":", 1)[1])
    clients = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(30)]
    try:
        for client in clients:
            client.request("GET", "/healthz")
        for client in clients:
            assert client.getresponse().read() == b"OK"
        listing = subprocess.run(["ss", "-tnpH", "state", "established", f"( sport = :{port} )"],
                                 capture_output=True, text=True, check=True).stdout
        per_worker: dict[str, int] = {}
        for pid in re.findall(r"pid=(\d+)", listing):
            per_worker[pid] = per_worker.get(pid, 0) + 1
        assert sum(per_worker.values()) == 30
        assert len(per_worker) == 3, per_worker  # every worker holds some of the clients
    finally:
        for client in clients:
            client.close()


def test_a_second_server_on_a_port_in_use_is_refused(server, settings: Settings) -> None:
    port = server.rsplit(":", 1)[1]
    second = subprocess.run([sys.executable, "-c", SERVER, port], env=_env(settings), capture_output=True,
                            text=True, timeout=60)
    assert second.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in second.stderr
    with urllib.request.urlopen(server + "/healthz", timeout=10) as response:  # the first one still serves
        assert response.status == 200
