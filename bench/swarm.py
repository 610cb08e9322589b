"""Swarm backend at scale: deploy and scale a web app to 30 replicas over 3 nodes, then lose a node.

    .venv/bin/python bench/swarm.py [--replicas 30] [--rounds 1] [--json results.json]

Builds the same real three-manager swarm as the tests (``tests/fixtures/swarm.py``: one dockerd per
network namespace, a registry in the hub namespace; needs root), pushes the busybox web image, and
measures with the swarm backend (health check every 2 s, update monitor 2 s, heartbeat 1 s):

* deploy: a new app straight to N replicas, until all N tasks run and passed their health check;
* scale: a new app at 1 replica, then 1 -> N;
* node death (a non-leader node, its link down and its PID namespace killed): time until
  ``processes()`` no longer reports any of its tasks (what the publisher turns into removed routes),
  and until N routable tasks run on the two survivors again (full capacity), each answering HTTP.

The cluster is torn down at the end, also after a failure.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app_layer.backends.base import HealthCheck, ReleaseSpec  # noqa: E402
from app_layer.backends.swarm import SwarmBackend  # noqa: E402
from app_layer.backends.swarm_spec import Timing  # noqa: E402
from tests.fixtures.swarm import SERVE, SwarmCluster, can_build, clear_stale_runs, wait_until  # noqa: E402

TIMING = Timing(health_interval=2.0, health_retries=2, monitor=2.0, stop_grace=5.0, restart_delay=0.5)


def release(app: str, image: str) -> ReleaseSpec:
    return ReleaseSpec(app=app, version=2, image=image, procfile={}, dockerfile=True,
                       env={"APP_LAYER_APP": app, "APP_LAYER_RELEASE": "v2"}, healthcheck=HealthCheck(url="/health"))


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    fn()
    return time.monotonic() - start


def one_round(cluster: SwarmCluster, image: str, replicas: int, n: int) -> dict[str, float]:
    backend = SwarmBackend([cluster.socket_url(i) for i in range(1, cluster.size + 1)], TIMING)
    direct, scaled = f"bench{n}-direct", f"bench{n}-scaled"
    result: dict[str, float] = {}
    try:
        result["deploy"] = timed(lambda: backend.deploy(release(direct, image), {"web": replicas}, 300))
        backend.destroy(direct)
        wait_until(lambda: not backend.processes(direct), 60, "the first app to go")
        backend.deploy(release(scaled, image), {"web": 1}, 120)
        result["scale"] = timed(lambda: backend.deploy(release(scaled, image), {"web": replicas}, 300))
        procs = [p for p in backend.processes(scaled) if p.routable]
        result["nodes_used"] = len({p.host for p in procs})

        victim = next(i for i in (3, 2, 1) if i != cluster.leader())
        dead = cluster.addr(victim)
        result["tasks_on_victim"] = sum(p.host == dead for p in procs)
        start = time.monotonic()
        cluster.kill(victim)
        wait_until(lambda: dead not in {p.host for p in backend.processes(scaled)}, 120, "tasks gone", poll=0.1)
        result["node_death_to_tasks_gone"] = time.monotonic() - start

        def full() -> bool:
            up = [p for p in backend.processes(scaled) if p.routable]
            return len(up) == replicas and dead not in {p.host for p in up}
        wait_until(full, 300, "full capacity", poll=0.1)
        result["node_death_to_full_capacity"] = time.monotonic() - start
        answering = sum(cluster.get(p.host, p.port or 0, "/health")[0] == 200
                        for p in backend.processes(scaled) if p.routable)
        result["answering_after"] = answering
        backend.destroy(scaled)
    finally:
        backend.close()
    cluster.revive(victim)
    cluster.wait_healthy(120)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replicas", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    reason = can_build()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    clear_stale_runs()
    cluster = SwarmCluster()
    rounds: list[dict[str, float]] = []
    try:
        up = timed(cluster.up)
        image = cluster.push_image("alsw-bench", SERVE)
        print(f"three-manager swarm up in {up:.1f}s")
        for n in range(1, args.rounds + 1):
            rounds.append(one_round(cluster, image, args.replicas, n))
            print(f"round {n}: " + ", ".join(f"{k}={v:.1f}" for k, v in rounds[-1].items()))
    finally:
        cluster.down()
    print(f"\n{args.replicas} replicas over 3 nodes (median of {len(rounds)}):")
    for key in rounds[0]:
        values = [r[key] for r in rounds]
        print(f"  {key:30s} {statistics.median(values):7.1f}" + ("s" if "to" in key or key in ("deploy", "scale")
                                                                 else ""))
    if args.json:
        args.json.write_text(json.dumps({"replicas": args.replicas, "rounds": rounds}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
