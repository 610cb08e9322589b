"""Deploy latency of the Docker backend (``bench/deploy``).

For a web app at 1 and at 10 processes: the time from the API call that makes a new release
(a config change, through the real Flask API and database) until every new container answers
HTTP, against the time the same image takes to start and answer when run by hand (the same
engine calls, in parallel, then the same probe) in the same run. The difference is what the
platform adds.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app_layer.api import create_app  # noqa: E402
from app_layer.backends import health  # noqa: E402
from app_layer.platform import Platform  # noqa: E402
from app_layer.settings import Settings  # noqa: E402
from tests.conftest import register  # noqa: E402
from tests.fixtures.docker import SERVE, _import, ensure_dockerd, rootfs_tar  # noqa: E402

POOL = ThreadPoolExecutor(32)


def all_answer(api: docker.APIClient, filters: dict, count: int, deadline: float) -> float:
    """Poll until ``count`` containers matching ``filters`` answer HTTP on port 5000; returns the time."""
    while time.monotonic() < deadline:
        listed = api.containers(filters=filters)
        ips = [next(iter(c["NetworkSettings"]["Networks"].values()))["IPAddress"] for c in listed]
        if len(ips) == count and all(POOL.map(lambda ip: health.http_ok(ip, 5000, "/", 0.5), ips)):
            return time.monotonic()
        time.sleep(0.005)
    raise SystemExit("containers did not become healthy in time")


def by_hand(api: docker.APIClient, image: str, count: int, tag: str) -> float:
    """``docker run -d -p 127.0.0.1::5000 -e PORT=5000`` ``count`` times in parallel, then probe."""
    def run(num: int) -> str:
        host_config = api.create_host_config(port_bindings={5000: ("127.0.0.1",)}, init=True)
        cid = api.create_container(image, name=f"{tag}-{num}", environment={"PORT": "5000"}, ports=[5000],
                                   labels={"bench": tag}, host_config=host_config)["Id"]
        api.start(cid)
        return cid

    ids: list[str] = []
    started = time.monotonic()
    runner = threading.Thread(target=lambda: ids.extend(POOL.map(run, range(count))))
    runner.start()  # probed while starting, exactly as the platform's containers are
    done = all_answer(api, {"label": f"bench={tag}"}, count, started + 60)
    runner.join()
    list(POOL.map(lambda cid: api.remove_container(cid, force=True), ids))
    return done - started


def through_platform(account, api: docker.APIClient, app: str, version: int, count: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Config change -> (seconds until all new containers answer, seconds until the API answered)."""
    answered: dict[str, float] = {}

    def call() -> None:
        response = account.post(f"/v1/apps/{app}/config", {"values": {"BENCH": str(version)}})
        assert response.status_code == 201, response.json
        answered["at"] = time.monotonic()

    started = time.monotonic()
    caller = threading.Thread(target=call)
    caller.start()
    healthy = all_answer(api, {"label": [f"app-layer.app={app}", f"app-layer.release={version}"]}, count,
                         started + 60)
    caller.join()
    return healthy - started, answered["at"] - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="measurements per case (the median is shown)")
    args = parser.parse_args()
    ensure_dockerd()
    api = docker.APIClient(version="auto")
    tag = f"bench{int(time.time())}"
    image = _import(api, f"app-layer-bench/web:{tag}",
                    rootfs_tar({"www/index.html": (b"hello\n", 0o644)}), SERVE)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env({"APP_LAYER_DATA_DIR": tmp, "APP_LAYER_SCHEDULER": "docker",
                                      "APP_LAYER_DRAIN_SECONDS": "0", "APP_LAYER_STOP_GRACE": "5"})
        platform = Platform.build(settings)
        platform.db.create_all()
        account = register(create_app(platform).test_client(), "bench")
        apps = []
        try:
            print(f"{'processes':>9} {'by hand':>9} {'platform':>9} {'added':>7} {'API answered':>13}  (median of "
                  f"{args.runs}, seconds)")
            for count in (1, 10):
                app = account.create_app(f"{tag}-{count}")
                apps.append(app)
                assert account.post(f"/v1/apps/{app}/builds", {"image": image, "procfile": {"web": SERVE}}
                                    ).status_code == 201
                assert account.post(f"/v1/apps/{app}/scale", {"web": count, "cmd": 0}).status_code == 204
                hand, plat, answer = [], [], []
                for run in range(args.runs):
                    hand.append(by_hand(api, image, count, f"{tag}-hand-{count}-{run}"))
                    healthy, answered = through_platform(account, api, app, 3 + run, count)
                    plat.append(healthy)
                    answer.append(answered)
                h, p, a = statistics.median(hand), statistics.median(plat), statistics.median(answer)
                print(f"{count:>9} {h:>9.3f} {p:>9.3f} {p - h:>+7.3f} {a:>13.3f}", flush=True)
        finally:
            for app in apps:
                platform.backend.destroy(app)
            platform.close()
            api.remove_image(image, force=True)


if __name__ == "__main__":
    main()
