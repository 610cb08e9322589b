"""Push-to-serving time of a hello-world Flask app built by the Python buildpack.

    .venv/bin/python bench/push.py [--runs 5] [--json results.json]

Starts a registry and a controller on the Docker backend (as tests/builds do), builds the stack
image if this engine lacks it (not timed), then measures from the start of ``git push`` (over git
HTTP) to the first HTTP response carrying the new code, read directly from the container's
own address (the one the router uses):

* cold: a new app, an empty cache (pip downloads Flask from the package index), stack built;
* warm: a code-only change to an app already deployed (dependencies come from the cache).

Prints every run, then median and max; targets: warm < 3 s, cold < 10 s (medians).
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests  # noqa: E402

from app_layer.backends.base import State  # noqa: E402
from app_layer.backends.docker import DockerBackend  # noqa: E402
from app_layer.builds import registry, stack  # noqa: E402
from tests.builds.conftest import FLASK_APP, _remove_images, _start_controller, make_dev  # noqa: E402
from tests.fixtures.docker import ensure_dockerd  # noqa: E402
from tests.fixtures.registry import free_port  # noqa: E402
from tests.support import stop_process  # noqa: E402

TARGETS = {"warm": 3.0, "cold": 10.0}


def start_registry(root: Path) -> tuple[subprocess.Popen, str]:
    addr = f"127.0.0.1:{free_port()}"
    proc = subprocess.Popen(registry.argv(registry.prepare(root, addr)), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    until = time.monotonic() + 30
    while True:
        try:
            if requests.get(f"http://{addr}/v2/", timeout=1).status_code == 200:
                return proc, addr
        except requests.ConnectionError:
            pass
        if time.monotonic() > until:
            raise RuntimeError("docker-registry did not start")
        time.sleep(0.05)


def seed_registry(stack_ref: str, addr: str) -> None:
    """Put the stack's layer in the registry first (once per platform, not part of any push)."""
    copy = f"{addr}/app-layer-stack:{stack_ref.rpartition(':')[2]}"
    subprocess.run(["docker", "tag", stack_ref, copy], check=True)
    try:
        subprocess.run(["docker", "push", "--quiet", copy], check=True, stdout=subprocess.DEVNULL)
    finally:
        subprocess.run(["docker", "rmi", copy], check=False, stdout=subprocess.DEVNULL)


def wait_for(backend: DockerBackend, app: str, marker: str, deadline: float = 300) -> float:
    """Poll the app's processes (their own addresses) until one answers ``marker``; returns when."""
    until = time.monotonic() + deadline
    while time.monotonic() < until:
        try:
            procs = backend.processes(app)
        except Exception:  # noqa: BLE001 - the engine may be busy; keep polling until the deadline
            procs = []
        for proc in procs:
            if proc.state is State.UP and proc.port:
                try:
                    if requests.get(f"http://{proc.host}:{proc.port}/", timeout=2).text.strip() == marker:
                        return time.monotonic()
                except requests.RequestException:
                    pass
        time.sleep(0.02)
    raise RuntimeError(f"{app} never answered {marker!r}")


def timed_push(dev, app: str, work: Path, backend: DockerBackend, marker: str,  # type: ignore[no-untyped-def]
               trace: bool = False) -> float:
    """Seconds from the start of ``git push`` to the first answer carrying ``marker`` (polled meanwhile)."""
    served: list[float] = []
    poller = threading.Thread(target=lambda: served.append(wait_for(backend, app, marker)), daemon=True)
    started = time.monotonic()
    push = subprocess.Popen(["git", "push", dev.http_remote(app), "master"], cwd=work, env=dev.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    poller.start()
    lines = []
    assert push.stderr is not None
    for line in push.stderr:
        lines.append(f"{time.monotonic() - started:6.2f}s {line.rstrip()}")
    if push.wait() != 0:
        raise RuntimeError("push failed:\n" + "\n".join(lines))
    poller.join(120)
    if not served:
        raise RuntimeError(f"{app} never answered {marker!r}")
    if trace:
        print("\n".join(lines) + f"\n{served[0] - started:6.2f}s first answer of the new code", flush=True)
    return served[0] - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", dest="json_path")
    parser.add_argument("--trace", action="store_true", help="print each push's output with timestamps")
    args = parser.parse_args()
    ensure_dockerd()
    stack_ref = stack.ensure(lambda line: print(line, flush=True))
    root = Path(tempfile.mkdtemp(prefix="app-layer-bench-push-"))
    registry_proc, addr = start_registry(root / "registry")
    controller_proc, controller = _start_controller(root, addr, "docker")
    dev = make_dev(controller, with_key=False)
    seed_registry(stack_ref, addr)
    backend = DockerBackend()
    results: dict[str, list[float]] = {"cold": [], "warm": []}
    try:
        for run in range(args.runs):
            app = dev.create_app(prefix="bench")
            work = Path(tempfile.mkdtemp(prefix=f"{app}-", dir=dev.home))
            dev.git("init", "-q", "-b", "master", str(work))
            (work / "requirements.txt").write_text("flask==3.0.3\n")
            (work / "app.py").write_text(FLASK_APP.format(text=f"cold {run}"))
            dev.commit(work, "cold")
            results["cold"].append(timed_push(dev, app, work, backend, f"cold {run}", args.trace))
            (work / "app.py").write_text(FLASK_APP.format(text=f"warm {run}"))
            dev.commit(work, "warm")
            results["warm"].append(timed_push(dev, app, work, backend, f"warm {run}", args.trace))
            print(f"run {run + 1}: cold {results['cold'][-1]:.2f}s  warm {results['warm'][-1]:.2f}s", flush=True)
            dev.api("DELETE", f"/v1/apps/{app}/")
    finally:
        for app in dev.apps:
            dev.api("DELETE", f"/v1/apps/{app}/")
        backend.close()
        stop_process(controller_proc)
        registry_proc.terminate()
        registry_proc.wait(10)
        _remove_images(addr)
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(dev.home, ignore_errors=True)
    ok = True
    summary = {}
    for kind, times in results.items():
        median, worst = statistics.median(times), max(times)
        summary[kind] = {"runs": times, "median": median, "max": worst, "target": TARGETS[kind]}
        met = median < TARGETS[kind]
        ok &= met
        print(f"{kind}: median {median:.2f}s, max {worst:.2f}s over {len(times)} runs "
              f"(target < {TARGETS[kind]:g}s: {'met' if met else 'MISSED'})")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(summary, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
