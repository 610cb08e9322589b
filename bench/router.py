"""Router overhead, time to routable, and a rollout under load, on the real Docker Engine.

    .venv/bin/python bench/router.py [--duration 30] [--rounds 30] [--connections 64] [--json results.json]

Runs what ``app-layer up`` runs for routing: ``app-layer publisher`` and ``app-layer router``
as separate processes on the embedded registry (SQLite in a temporary folder), the docker
backend, and a busybox ``httpd`` image imported locally. Then, with wrk:

1. throughput and latency straight to the app's container (its own address on the bridge, where
   the router sends requests too) and through the router (``Host: <app>.bench.test``), same wrk
   settings, one process; the paths alternate for ``--rounds`` rounds of ``duration / rounds``
   seconds (every other round in reverse order) and a path's figure is the median of its
   per-round ratios to the direct path of the same round. Two apps:

   * ``python`` (the targets): what ``git push`` of a Flask app gives, the stack image with Flask
     and gunicorn (``web: gunicorn app:app``, WEB_CONCURRENCY=2 workers of 4 threads);
   * ``static``: caddy serving a file, the worst case for any proxy, whose hop then costs about as
     much CPU as the app's own work (reported, not a target);

   each in three CPU layouts, all measured in every run; in each, the app and wrk get the same
   CPUs for both paths:

   * ``with_wrk`` (the targets): the app alone on the last CPU, as on a host of its own; wrk and
     the router's nginx share the first, as the clients and the router host do in production.
     The app's CPU then does the same work per request on both paths (answer a peer on another
     CPU), so what is measured is whether the router keeps up;
   * ``own_core``: the router's nginx alone on the first CPU, the app's container and wrk on the
     last; through the router every request crosses CPUs twice, and the wake-ups and cache misses
     that costs land on the app's CPU, a cost of the rig that separate hosts do not have;
   * ``shared``: nothing pinned, so nginx's work comes out of the app's CPU (``app-layer up`` on
     one small host);

   and in the same rounds a bare nginx (same binary and worker count, a static ``proxy_pass`` to
   the container with upstream keep-alive, no Lua, no access log) pinned like the router: the
   least any nginx hop costs here, so the router's own overhead is ``router / bare``. For the
   Python app, in the first layout, a fourth path goes straight to the app with the headers the
   router adds (X-Forwarded-For/-Proto/-Port, X-Request-Id): what parsing them costs the app. The added
   p99 is measured at 4 connections on the static app, where the hop is the largest share of a
   request;

2. time from healthy to routable: a new app is deployed while one loop probes its container's
   health check and another asks the router; the difference of the first successes;
3. a rollout of a 3-process web app (a config change: new release, new containers, drain, stop
   the old ones) under ``--connections`` concurrent wrk clients, counting every failed request
   (non-2xx answer, connection error or timeout) and the slowest response.

Targets: >= 90 % of direct throughput (the Python app), added p99 < 2 ms, routable within 1 s, 0 failed requests
and no response slower than 500 ms during the rollout.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app_layer.api import create_app  # noqa: E402
from app_layer.backends import docker as docker_backend  # noqa: E402
from app_layer.builds import stack  # noqa: E402
from app_layer.migrate import upgrade  # noqa: E402
from app_layer.platform import Platform  # noqa: E402
from app_layer.settings import Settings  # noqa: E402
from tests.conftest import register  # noqa: E402
from tests.fixtures.docker import BUSYBOX, SERVE, _import, add_bytes, ensure_dockerd, rootfs_tar  # noqa: E402
from tests.routing.helpers import free_port  # noqa: E402

DOMAIN = "bench.test"
TARGETS = {"throughput_ratio": 0.90, "added_p99_ms": 2.0, "routable_s": 1.0, "rollout_failed": 0,
           "rollout_slowest_ms": 500.0}
WRK_LUA = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d %d\\n", summary.requests, e.connect, e.read, e.write,
                         e.status, e.timeout, latency.max))
end
"""


def app_image(api, tag: str) -> str:  # type: ignore[no-untyped-def]
    """The app: Debian's caddy serving static files when installed (a server with a normal listen
    backlog), else busybox httpd (backlog 9, so its own tail latency dominates under 64 clients)."""
    files = {"www/index.html": (b"hello from app-layer\n", 0o644), "www/health": (b"ok\n", 0o644)}
    caddy = shutil.which("caddy")
    if caddy is None:
        return _import(api, tag, rootfs_tar(files), SERVE)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for folder in ("bin", "tmp", "www", "lib", "lib64", "lib/x86_64-linux-gnu"):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if folder == "tmp" else 0o755
            tar.addfile(info)
        tar.add(BUSYBOX, arcname="bin/busybox")
        info = tarfile.TarInfo("bin/sh")
        info.type, info.linkname = tarfile.SYMTYPE, "busybox"
        tar.addfile(info)
        tar.add(caddy, arcname="bin/caddy")
        for lib in re.findall(r"(/\S+\.so[.\d]*) \(", subprocess.run(["ldd", caddy], capture_output=True,
                                                                       text=True).stdout):
            tar.add(os.path.realpath(lib), arcname=lib.lstrip("/"))
        for path, (content, mode) in files.items():
            add_bytes(tar, path, content, mode)
    command = "HOME=/tmp XDG_CONFIG_HOME=/tmp XDG_DATA_HOME=/tmp exec caddy file-server --listen :$PORT --root /www"
    return _import(api, tag, buf.getvalue(), command)


PYTHON_APP = """from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello():
    return "hello from app-layer\\n"


@app.get("/health")
def health():
    return "ok\\n"
"""
PYTHON_DISTS = ("flask", "werkzeug", "jinja2", "markupsafe", "itsdangerous", "click", "blinker", "gunicorn",
                "packaging")


def python_app_image(api, tag: str) -> str:  # type: ignore[no-untyped-def]
    """A Flask app as the Python buildpack runs it: the stack image, Flask and gunicorn (this
    interpreter's own copies, the stack's Python is the same minor version, so no package index is
    needed), ``gunicorn app:app`` with 2 workers of 4 threads: gthread keeps connections alive;
    sync workers close each one, and at a few thousand new connections a second the client's
    ports all sit in TIME_WAIT, which would measure the kernel's port reuse, not the router.
    ``--reuse-port`` gives each worker a listening socket of its own: with one shared socket the
    first worker awake can take most of the 64 keep-alive connections, and a run then measures
    one core or two at random."""
    base = stack.ensure(lambda line: print(f"bench: {line}", flush=True))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in PYTHON_DISTS:
            dist = importlib.metadata.distribution(name)
            for file in dist.files or ():
                if "__pycache__" not in file.parts and not str(file).startswith(".."):
                    tar.add(dist.locate_file(file), arcname=f"deps/{file}")
        for path, content in (("app.py", PYTHON_APP), ("Dockerfile", f"""FROM {base}
COPY deps /app/deps
COPY app.py /app/app.py
ENV PYTHONPATH=/app/deps WEB_CONCURRENCY=2
WORKDIR /app
CMD ["/bin/sh", "-c", "exec python3 -m gunicorn --workers $WEB_CONCURRENCY --worker-class gthread --threads 4 \\
     --reuse-port --bind 0.0.0.0:$PORT app:app"]
""")):
            add_bytes(tar, path, content.encode())
    buf.seek(0)
    for chunk in api.build(fileobj=buf, custom_context=True, tag=tag, rm=True, decode=True):
        if "error" in chunk:
            raise SystemExit(f"bench: building the Python app failed: {chunk['error']}")
    return tag


# what the router adds to every request (app_layer/routing/nginx.py), for the "direct + headers" path
FORWARDED = ("X-Forwarded-For: 127.0.0.1", "X-Forwarded-Proto: http", "X-Forwarded-Port: 8080",
             "X-Request-Id: 5f0c6a8e2b7d4c1f9e3a0b6d8c2e4f17")


def wrk(url: str, duration: float, connections: int, host: str | None = None, cpus: str = "",
        headers: tuple[str, ...] = ()) -> dict:
    """Run wrk (on ``cpus`` when given); returns requests/s, p50/p99/max latency (ms) and error counts."""
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    script.write_text(WRK_LUA)
    command = ["wrk", "-t2", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency", "--timeout", "5s",
               "-s", str(script), url]
    for header in (*headers, *([f"Host: {host}"] if host else [])):
        command[1:1] = ["-H", header]
    if cpus:
        command[:0] = ["taskset", "-c", cpus]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    script.unlink()

    def ms(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not match:
            return float("nan")
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    result = re.search(r"^RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)$", out, re.M)
    assert result, out
    requests, connect, read, write, status, timeout, max_us = map(int, result.groups())
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
            "p50_ms": ms("50"), "p99_ms": ms("99"), "max_ms": max_us / 1000, "requests": requests,
            "failed": connect + read + write + status + timeout,
            "errors": {"connect": connect, "read": read, "write": write, "non_2xx": status, "timeout": timeout}}


def get(url: str, host: str, timeout: float = 2.0) -> int:
    request = urllib.request.Request(url, headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def wait(check, deadline: float, what: str) -> None:  # type: ignore[no-untyped-def]
    until = time.monotonic() + deadline
    while not check():
        if time.monotonic() > until:
            raise SystemExit(f"bench: timed out waiting for {what}")
        time.sleep(0.05)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load per comparison")
    parser.add_argument("--connections", type=int, default=64)
    # this VM's throughput drifts by a third from one few-second run to the next: many short
    # alternating rounds, compared by their medians, keep the ratio steady
    parser.add_argument("--rounds", type=int, default=30, help="alternating direct/router rounds (medians)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--no-access-log", action="store_true", help="run the router without its access log")
    args = parser.parse_args()

    ensure_dockerd()
    tmp = Path(tempfile.mkdtemp(prefix="bench-router-"))
    run = uuid.uuid4().hex[:8]
    env = {**os.environ, "APP_LAYER_DATA_DIR": str(tmp / "data"), "APP_LAYER_SCHEDULER": "docker",
           "APP_LAYER_DOMAIN": DOMAIN, "APP_LAYER_ROUTER_PORT": str(free_port()),
           "APP_LAYER_ROUTER_TLS_PORT": str(free_port()), "APP_LAYER_API_PORT": str(free_port()),
           "APP_LAYER_DRAIN_SECONDS": os.environ.get("APP_LAYER_DRAIN_SECONDS", "2"),
           "APP_LAYER_STOP_GRACE": "5"}
    settings = Settings.from_env(env)
    platform = Platform.build(settings)
    upgrade(platform.db)
    backend = platform.backend
    assert isinstance(backend, docker_backend.DockerBackend)
    api = backend._api()
    image = app_image(api, f"app-layer-bench/web:{run}")
    py_image = python_app_image(api, f"app-layer-bench/python:{run}")
    client = create_app(platform).test_client()
    register(client, "admin")
    owner = register(client, "bench")
    apps: list[str] = []
    children: list[subprocess.Popen] = []
    router_url = f"http://127.0.0.1:{settings.router_port}"
    results: dict[str, object] = {}
    try:
        for verb in ("publisher", "router"):
            log = (tmp / f"{verb}.log").open("w")
            extra = ["--no-access-log"] if verb == "router" and args.no_access_log else []
            argv = [sys.executable, "-m", "app_layer.cli.main", verb, *extra]
            children.append(subprocess.Popen(argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                             start_new_session=True))
        wait(lambda: get(f"{router_url}/healthz", "127.0.0.1") == 200, 60, "the router")

        py_app = owner.create_app(f"b{run}-py")
        apps.append(py_app)
        results["python"] = overhead(owner, backend, py_app, py_image, router_url, settings.data_dir / "router",
                                     args, light_load=False, forwarded_path=True)
        backend.destroy(py_app)  # idle from here on, but out of the way of the static app's rounds
        app = owner.create_app(f"b{run}-web")
        apps.append(app)
        results["static"] = overhead(owner, backend, app, image, router_url, settings.data_dir / "router", args)
        results["throughput_ratio"] = next(iter(results["python"]["layouts"].values()))["ratio"]
        results["added_p99_ms"] = results["static"]["added_p99_ms"]
        fresh = f"b{run}-new"
        apps.append(fresh)
        results["routable_s"] = healthy_to_routable(owner, backend, fresh, image, router_url)
        results.update(rollout_under_load(owner, backend, app, router_url, args))
    finally:
        for child in children:
            if child.poll() is None:
                os.killpg(child.pid, 15)
        for child in children:
            child.wait(20)
        for app_id in apps:
            backend.destroy(app_id)
        for tag in (image, py_image):
            try:
                api.remove_image(tag, force=True)
            except Exception:  # noqa: BLE001 - already gone with the app
                pass
        platform.close()

    status = report(results, args.json)
    if status == 0:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"publisher and router logs kept in {tmp}")
    return status


def overhead(owner, backend, app: str, image: str, router_url: str, router_prefix: Path, args,  # type: ignore[no-untyped-def]
             light_load: bool = True, forwarded_path: bool = False) -> dict:
    """Throughput at ``--connections``, straight vs through the router, in each CPU layout (see the
    module's docstring); with ``light_load`` latency at 4 connections in the first layout; with
    ``forwarded_path``, in the first layout, straight to the app with the headers the router adds."""
    assert owner.post(f"/v1/apps/{app}/builds", {"image": image}).status_code == 201
    host = f"{app}.{DOMAIN}"
    wait(lambda: get(router_url, host) == 200, 60, "the app through the router")
    proc = next(p for p in backend.processes(app) if p.port)
    direct_url = f"http://{proc.host}:{proc.port}/"
    api = backend._api()
    cpus = sorted(os.sched_getaffinity(0))
    bare = BareNginx(router_prefix.parent / "bare-nginx", proc.host, proc.port)
    nginx = _nginx_pids(router_prefix) + bare.pids
    slice_ = max(1.0, args.duration / args.rounds)
    paths = {"direct": (direct_url, None, ()), "router": (f"{router_url}/", host, ()), "bare": (bare.url, None, ()),
             "headers": (direct_url, None, FORWARDED)}

    def compare(connections: int, wrk_cpus: str, keys: tuple[str, ...]) -> dict[str, dict]:
        """Per path: its median figures, and ``ratios`` of its rate to the direct path's, round by round."""
        # alternate the paths in short rounds, every other round in reverse order, and compare
        # within each round: this VM's drift then weighs on all paths of a round alike
        runs = []
        for round_ in range(args.rounds):
            order = keys if round_ % 2 == 0 else keys[::-1]
            runs.append({key: wrk(paths[key][0], slice_, connections, paths[key][1], cpus=wrk_cpus,
                                  headers=paths[key][2]) for key in order})
        out = {key: _median([r[key] for r in runs]) for key in keys}
        for key in keys:
            out[key]["ratios"] = [round(r[key]["rps"] / r["direct"]["rps"], 3) for r in runs]
        if "bare" in keys:
            out["bare"]["router_ratios"] = [round(r["router"]["rps"] / r["bare"]["rps"], 3) for r in runs]
        return out

    layouts = []  # name, app CPUs, wrk CPUs, nginx CPUs ("" / all: not pinned), description
    if len(cpus) > 1:
        first, last = str(cpus[0]), str(cpus[-1])
        layouts += [("with_wrk", last, first, {cpus[0]}, f"the app alone on CPU {last}; wrk and the router's "
                     f"nginx on CPU {first}"),
                    ("own_core", last, last, {cpus[0]}, f"the router's nginx alone on CPU {first}; the app and "
                     f"wrk on CPU {last} in both runs")]
    layouts.append(("shared", "", "", set(cpus), "nothing pinned: nginx's CPU comes out of the app's"))
    out: dict = {"layouts": {}}
    try:
        for name, app_cpus, wrk_cpus, nginx_cpus, description in layouts:
            api.update_container(proc.backend_id, cpuset_cpus=app_cpus or ",".join(map(str, cpus)))
            _pin(nginx, nginx_cpus)
            for url, via, _ in (paths["direct"], paths["router"], paths["bare"]):  # warm up
                wrk(url, 2, args.connections, via, cpus=wrk_cpus)
            first_layout = not out["layouts"]
            keys = ("direct", "router", "bare", *(("headers",) if forwarded_path and first_layout else ()))
            measured = compare(args.connections, wrk_cpus, keys)
            layout = out["layouts"][name] = {
                "direct": measured["direct"], "router": measured["router"], "bare": measured["bare"],
                "ratio": statistics.median(measured["router"]["ratios"]),
                "bare_ratio": statistics.median(measured["bare"]["ratios"]),
                "router_bare_ratio": statistics.median(measured["bare"]["router_ratios"]),
                "description": description}
            if "headers" in measured:
                layout["headers"] = measured["headers"]
                layout["headers_ratio"] = statistics.median(measured["headers"]["ratios"])
            if light_load and first_layout:
                light = compare(4, wrk_cpus, ("direct", "router"))
                out["direct_c4"], out["router_c4"] = light["direct"], light["router"]
                out["added_p99_ms"] = out["router_c4"]["p99_ms"] - out["direct_c4"]["p99_ms"]
                out["light_layout"] = description
    finally:
        bare.stop()
    return out


class BareNginx:
    """The baseline: nginx with a static upstream and nothing else, on a free loopback port."""

    def __init__(self, prefix: Path, host: str, port: int):
        (prefix / "logs").mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        conf = prefix / "nginx.conf"
        conf.write_text(f"""worker_processes auto;
pid {prefix / 'nginx.pid'};
error_log {prefix / 'logs' / 'error.log'} warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    upstream app {{ server {host}:{port}; keepalive 256; }}
    server {{
        listen 127.0.0.1:{self.port};
        location / {{ proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }}
    }}
}}
""")
        self.process = subprocess.Popen(["nginx", "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"])
        wait(lambda: get(self.url, "bare", 0.5) == 200, 30, "the bare nginx")
        self.pids = _nginx_pids(prefix)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(20)


def _nginx_pids(prefix: Path) -> list[int]:
    """The router's nginx master and workers."""
    master = int((prefix / "nginx.pid").read_text())
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [master, *map(int, children)]


def _pin(pids: list[int], cpus: set[int]) -> None:
    for pid in pids:
        os.sched_setaffinity(pid, cpus)


def _median(runs: list[dict]) -> dict:
    """Per figure, the median over ``runs`` (error counts are summed)."""
    out: dict = {}
    for key in ("rps", "p50_ms", "p99_ms", "max_ms"):
        values = sorted(r[key] for r in runs)
        out[key] = values[len(values) // 2]
    out["requests"] = sum(r["requests"] for r in runs)
    out["failed"] = sum(r["failed"] for r in runs)
    out["runs"] = len(runs)
    return out


def healthy_to_routable(owner, backend, app: str, image: str, router_url: str) -> float:  # type: ignore[no-untyped-def]
    """Deploy a new app; seconds from its container answering its health check to the router routing it."""
    owner.create_app(app)
    marks: dict[str, float] = {}

    def probe_direct() -> None:
        until = time.monotonic() + 120
        while time.monotonic() < until and "healthy" not in marks:
            for p in backend.processes(app):
                if p.port and get(f"http://{p.host}:{p.port}/health", "x", 0.5) == 200:
                    marks.setdefault("healthy", time.monotonic())
            time.sleep(0.005)

    def probe_router() -> None:
        until = time.monotonic() + 120
        while time.monotonic() < until:
            if get(router_url, f"{app}.{DOMAIN}", 0.5) == 200:
                marks["routable"] = time.monotonic()
                return
            time.sleep(0.005)

    probes = [threading.Thread(target=probe_direct), threading.Thread(target=probe_router)]
    for thread in probes:
        thread.start()
    assert owner.post(f"/v1/apps/{app}/builds", {"image": image}).status_code == 201
    for thread in probes:
        thread.join()
    return marks["routable"] - marks["healthy"]


def rollout_under_load(owner, backend, app: str, router_url: str, args) -> dict:  # type: ignore[no-untyped-def]
    """Scale to 3 processes, then roll out a config change while wrk keeps ``--connections`` clients busy."""
    assert owner.post(f"/v1/apps/{app}/scale", {"cmd": 3}).status_code == 204
    wait(lambda: len([p for p in backend.processes(app) if p.healthy]) == 3, 60, "three processes")
    time.sleep(1.5)  # let the publisher and router take all three
    rollout: dict[str, float] = {}

    def deploy() -> None:
        time.sleep(2)
        rollout["start"] = time.monotonic()
        response = owner.post(f"/v1/apps/{app}/config", {"values": {"GREETING": "rolled"}})
        rollout["status"] = response.status_code
        rollout["end"] = time.monotonic()

    deployer = threading.Thread(target=deploy)
    deployer.start()
    under_load = wrk(f"{router_url}/", 15.0, args.connections, f"{app}.{DOMAIN}")
    deployer.join()
    assert rollout["status"] == 201, rollout
    return {"rollout": {**under_load, "rollout_s": rollout["end"] - rollout["start"]},
            "rollout_failed": under_load["failed"], "rollout_slowest_ms": under_load["max_ms"]}


def report(results: dict, json_path: Path | None) -> int:
    for label, what in (("python", "gunicorn app:app, 2 workers x 4 threads (the targets)"),
                        ("static", "caddy file-server, the worst case for a proxy (reported)")):
        print(f"{label} app, {what}:")
        for name, layout in results[label]["layouts"].items():
            direct, routed, bare = layout["direct"], layout["router"], layout["bare"]
            print(f"  {name + ':':<9} direct {direct['rps']:>6.0f} req/s (p99 {direct['p99_ms']:.1f} ms), router "
                  f"{routed['rps']:>6.0f} req/s (p99 {routed['p99_ms']:.1f} ms) = {layout['ratio']:6.1%}  "
                  f"({layout['description']})")
            print(f"            router / direct per round: {' '.join(f'{r:.2f}' for r in routed['ratios'])}")
            print(f"            bare nginx {bare['rps']:>6.0f} req/s = {layout['bare_ratio']:.1%} of direct "
                  f"(per round: {' '.join(f'{r:.2f}' for r in bare['ratios'])}); the router = "
                  f"{layout['router_bare_ratio']:.1%} of bare nginx")
            if "headers_ratio" in layout:
                print(f"            straight to the app with the router's headers ({len(FORWARDED)}, "
                      f"X-Forwarded-* and X-Request-Id) = {layout['headers_ratio']:.1%} of direct (per round: "
                      f"{' '.join(f'{r:.2f}' for r in layout['headers']['ratios'])})")
    static, roll = results["static"], results["rollout"]
    light_d, light_r = static["direct_c4"], static["router_c4"]
    print(f"4 conns:  static app, direct p50 {light_d['p50_ms']:.2f} ms p99 {light_d['p99_ms']:.2f} ms, router p50 "
          f"{light_r['p50_ms']:.2f} ms p99 {light_r['p99_ms']:.2f} ms: added p99 {results['added_p99_ms']:+.2f} ms "
          f"({static['light_layout']})")
    target_layout = next(iter(results["python"]["layouts"]))
    print(f"ratio:    the Python app keeps {results['throughput_ratio']:.1%} of direct in {target_layout} (the "
          f"targets); lowest of its layouts {min(x['ratio'] for x in results['python']['layouts'].values()):.1%}")
    print(f"routable: {results['routable_s'] * 1000:.0f} ms after the process became healthy")
    print(f"rollout:  {roll['requests']} requests in {roll['rollout_s']:.1f} s of rollout, "
          f"{roll['failed']} failed {roll['errors']}, slowest {roll['max_ms']:.0f} ms, p99 {roll['p99_ms']:.2f} ms")
    checks = {
        "throughput_ratio": results["throughput_ratio"] >= TARGETS["throughput_ratio"],
        "added_p99_ms": results["added_p99_ms"] < TARGETS["added_p99_ms"],
        "routable_s": results["routable_s"] < TARGETS["routable_s"],
        "rollout_failed": results["rollout_failed"] == 0,
        "rollout_slowest_ms": results["rollout_slowest_ms"] < TARGETS["rollout_slowest_ms"],
    }
    for name, ok in checks.items():
        print(f"target {name}: {'met' if ok else 'MISSED'} ({results[name]:.3g} vs {TARGETS[name]})")
    if json_path:
        json_path.write_text(json.dumps({"results": results, "targets": TARGETS, "met": checks}, indent=2))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
