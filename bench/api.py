"""API throughput: wrk (concurrency 32) against the controller under its production server config.

    .venv/bin/python bench/api.py [--duration 10] [--rounds 5] [--connections 32] [--json results.json]

Starts the controller the way ``app-layer server`` does (gunicorn with
``app_layer.server.gunicorn_options``) on a free loopback port, with ``APP_LAYER_SCHEDULER=memory``
and a SQLite database in a temporary folder. Seeds an ordinary (non-admin) user with 10 apps, then
100 (the first full page), then 10,000, and for each size measures authenticated
``GET /v1/apps/<id>``, ``GET /v1/apps`` (a page of 100), ``POST /v1/apps/<id>/config`` and
``/healthz`` (the ceiling: the same server doing no work). Prints requests/s and p50/p90/p99
latency, and checks the targets: >= 1,500 GETs of one app/s, >= 120 pages/s, and 10,000 apps as
fast as the smallest size (within 10 %).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

TARGETS = {"GET /v1/apps/<id>": 1500.0, "GET /v1/apps": 120.0}
CONFIG_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, nil, nil, '{"values": {"BENCH": "' .. counter .. '"}}')
end
"""


# What ``app-layer server`` does (migrate, then gunicorn with the production options), minus the backend
# worker process, which the memory scheduler does not have; options may be overridden for experiments.
SERVER = """
import json, sys
from app_layer.cli.main import load_settings
from app_layer.db import Database
from app_layer.migrate import upgrade
from app_layer.server import ControllerServer, gunicorn_options
settings = load_settings().with_secrets()
upgrade(Database(settings.database_url))
options = gunicorn_options(settings, "127.0.0.1", int(sys.argv[1]))
options.update(json.loads(sys.argv[2]))
print("gunicorn:", {k: options[k] for k in ("workers", "worker_class", "threads")}, flush=True)
ControllerServer(options).run()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(base: str, method: str, path: str, body: dict | None = None, token: str | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"token {token}"} if token else {})})
    with urllib.request.urlopen(request, timeout=30) as response:
        raw = response.read()
        return json.loads(raw) if raw else {}


def wait_up(base: str, server: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"the controller exited with {server.returncode}")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    sys.exit("the controller did not answer /healthz in time")


def seed(env: dict[str, str], username: str, first: int, count: int) -> None:
    """Create apps ``bench-<n>`` directly through the domain layer (the API would take minutes for 10,000)."""
    code = f"""
from app_layer import apps, users
from app_layer.db import Database
from app_layer.settings import Settings
s = Settings.from_env()
db = Database(s.database_url)
with db.write() as session:
    owner = users.get_user(session, {username!r})
    for n in range({first}, {first + count}):
        apps.create(session, owner, f"bench-{{n}}", s.reserved_names)
"""
    subprocess.run([sys.executable, "-c", code], env=env, check=True)


def wrk(url: str, token: str, duration: int, connections: int, script: Path | None = None) -> dict:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "-H",
               f"Authorization: token {token}", url]
    if script:
        command[1:1] = ["-s", str(script)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)

    def pct(p: str) -> float:
        value, unit = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return {"rps": rps, "p50": pct("50"), "p90": pct("90"), "p99": pct("99"),
            "non2xx": int(non2xx.group(1)) if non2xx else 0, "socket_errors": errors.group(0) if errors else ""}


def measure(base: str, token: str, app: str, duration: int, connections: int, lua: Path,
            only: str | None = None, rounds: int = 5) -> dict[str, dict]:
    """Each endpoint for ``duration`` seconds in all, as ``rounds`` interleaved runs; the median run
    of each is kept (this VM's throughput drifts by a third from one few-second run to the next)."""
    runs = {
        "/healthz (ceiling)": (f"{base}/healthz", None),
        "GET /v1/apps/<id>": (f"{base}/v1/apps/{app}", None),
        "GET /v1/apps": (f"{base}/v1/apps?page_size=100", None),
        "POST /v1/apps/<id>/config": (f"{base}/v1/apps/{app}/config", lua),
    }
    chosen = {name: target for name, target in runs.items() if not only or only in name or "ceiling" in name}
    slice_ = max(1, round(duration / rounds))
    seen: dict[str, list[dict]] = {name: [] for name in chosen}
    for _ in range(rounds):
        for name, (url, script) in chosen.items():
            seen[name].append(wrk(url, token, slice_, connections, script))
    out = {}
    for name, results in seen.items():
        ordered = sorted(results, key=lambda r: r["rps"])
        out[name] = {**ordered[len(ordered) // 2], "rounds": [round(r["rps"]) for r in results]}
    return out


def report(size: int, results: dict[str, dict]) -> None:
    ceiling = results["/healthz (ceiling)"]["rps"]
    print(f"\n{size} apps in the database")
    print(f"  {'endpoint':<28} {'req/s':>9} {'of ceiling':>10} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8}  "
          f"non-2xx  rounds (req/s)")
    for name, r in results.items():
        print(f"  {name:<28} {r['rps']:>9.0f} {r['rps'] / ceiling:>9.0%} {r['p50']:>8.2f} {r['p90']:>8.2f} "
              f"{r['p99']:>8.2f}  {r['non2xx']:>7}  {' '.join(map(str, r['rounds']))} {r['socket_errors']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per endpoint")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved runs per endpoint (median kept)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--sizes", default="10,100,10000", help="app counts to measure, ascending")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--workers", type=int, help="override the production worker count (experiments)")
    parser.add_argument("--threads", type=int, help="override the production thread count (experiments)")
    parser.add_argument("--only", help="measure only endpoints whose name contains this")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk not found: install the Debian package 'wrk'")
    root = Path(tempfile.mkdtemp(prefix="app-layer-bench-"))
    port = free_port()
    env = {**os.environ, "APP_LAYER_DATA_DIR": str(root), "APP_LAYER_SCHEDULER": "memory",
           "APP_LAYER_API_PORT": str(port)}
    base = f"http://127.0.0.1:{port}"
    lua = root / "config.lua"
    lua.write_text(CONFIG_LUA)
    overrides = {k: v for k, v in (("workers", args.workers), ("threads", args.threads)) if v}
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port), json.dumps(overrides)], env=env)
    figures: dict[int, dict[str, dict]] = {}
    try:
        wait_up(base, server)
        for username in ("admin", "bench"):  # the first user is an admin: measure an ordinary user
            call(base, "POST", "/v1/auth/register", {"username": username, "password": "bench-pw",
                                                     "email": f"{username}@example.com"})
        token = call(base, "POST", "/v1/auth/login/", {"username": "bench", "password": "bench-pw"})["token"]
        have = 0
        for size in (int(s) for s in args.sizes.split(",")):
            seed(env, "bench", have, size - have)
            have = size
            assert call(base, "GET", "/v1/apps?page_size=1", token=token)["count"] == size
            figures[size] = measure(base, token, "bench-5", args.duration, args.connections, lua, args.only,
                                    args.rounds)
            report(size, figures[size])
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(root, ignore_errors=True)
    print("\ntargets")
    ok = True
    for name, target in TARGETS.items():
        if name not in figures[min(figures)]:
            continue
        for size, results in figures.items():
            good = results[name]["rps"] >= target
            ok &= good
            print(f"  {name} with {size} apps: {results[name]['rps']:.0f}/s (target {target:.0f}) "
                  f"{'ok' if good else 'MISSED'}")
        # A page of 100 is only full from 100 apps on: compare pages from the first size that fills one.
        sizes = [size for size in figures if name != "GET /v1/apps" or size >= 100]
        if len(sizes) > 1:
            small, large = figures[min(sizes)][name]["rps"], figures[max(sizes)][name]["rps"]
            same = large >= 0.9 * small
            ok &= same
            print(f"  {name}: {max(sizes)} apps at {large / small:.0%} of {min(sizes)} apps "
                  f"{'ok' if same else 'MISSED'}")
    if args.json:
        args.json.write_text(json.dumps({str(k): v for k, v in figures.items()}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
