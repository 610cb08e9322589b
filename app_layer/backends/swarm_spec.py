"""Docker Swarm service specs, decided in pure functions: ``ReleaseSpec`` + process type + replicas ->
the Engine API's ``ServiceSpec`` (the JSON body of ``POST /services/create`` and ``/services/{id}/update``).

Choices, and why (see ``../shared/notes/swarm-on-one-machine.md``):

* One service per process type, named ``<app>_<type>``, labelled with app, release and type; the
  same labels on every task's container, so a task says which release it runs.
* ``EndpointSpec``: ``dnsrr`` and ``PORT`` published in **host mode on a dynamic host port**. The
  ingress mesh and VIPs need IPVS, which many kernels lack; with dynamic ports any number of tasks
  share a node, so ``start-first`` updates never wait for a free port. The router reaches each task
  at its node's address and the port the swarm picked (``Task.Status.PortStatus``).
* Health: the container's own health check (``HEALTHCHECK_URL`` by ``wget`` or ``curl`` inside the
  image, else a TCP connect to ``PORT`` by ``nc`` or bash), with a sparse interval: every check is an exec on a node.
  A swarm task only becomes ``running`` once its check passes, and a task that turns unhealthy is
  replaced, so task state *is* health for the router.
* Updates start new tasks first (``Parallelism`` = a quarter of the replicas, at least one), watch
  them for ``monitor`` seconds, and roll back automatically on the first failure; rollbacks also
  start first. Restart policy ``any``: a crashed process comes back, as on Heroku.
* Limits: memory ("512M") as bytes; CPU shares (0-1024) as a fraction of one CPU.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
import shlex
from dataclasses import dataclass
from typing import Any

from app_layer.backends import health
from app_layer.backends.base import ROUTABLE_TYPES, ReleaseSpec
from app_layer.backends.docker import process_command

LABEL_APP, LABEL_RELEASE, LABEL_TYPE = "app-layer.app", "app-layer.release", "app-layer.type"
LABEL_SPEC, LABEL_PORT = "app-layer.spec", "app-layer.port"
DEFAULT_PORT = 5000
NS = 1_000_000_000
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([bkmgt]?)b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3, "t": 1024 ** 4}


@dataclass(frozen=True)
class Timing:
    """How often and how long the swarm checks and waits, in seconds. Production defaults keep health
    checks sparse; tests shorten them."""

    health_interval: float = 10.0
    health_retries: int = 3
    monitor: float = 5.0         # how long a new task must stay healthy before the update goes on
    update_delay: float = 0.0    # pause between batches of an update
    stop_grace: float = 10.0     # SIGTERM -> SIGKILL
    restart_delay: float = 1.0   # before a crashed task is restarted


def service_name(app: str, ptype: str) -> str:
    return f"{app}_{ptype}"


def port_of(release: ReleaseSpec) -> int:
    return release.port or DEFAULT_PORT


def labels(release: ReleaseSpec, ptype: str) -> dict[str, str]:
    return {LABEL_APP: release.app, LABEL_RELEASE: str(release.version), LABEL_TYPE: ptype}


def memory_bytes(limit: str) -> int:
    """``512M``, ``1g``, ``256MB``, ``1048576`` -> bytes (binary units, as Docker reads them)."""
    match = _SIZE.match(limit)
    if not match:
        raise ValueError(f"not a memory size: {limit!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def nano_cpus(shares: int) -> int:
    """CPU shares (1024 = one CPU) as the swarm's CPU limit in billionths of a CPU."""
    return int(shares * NS / 1024)


def healthcheck(release: ReleaseSpec, ptype: str, timing: Timing) -> dict[str, Any]:
    """The container health check: routable types answer ``HEALTHCHECK_URL`` or accept a TCP connection
    on ``PORT``; other types have none (``NONE`` also switches off a HEALTHCHECK in the image)."""
    if ptype not in ROUTABLE_TYPES:
        return {"Test": ["NONE"]}
    port = port_of(release)
    path = health.check_path(release.healthcheck.url)
    if path:
        url = shlex.quote(f"http://127.0.0.1:{port}{path}")
        test = f"wget -q -O /dev/null {url} || curl -fsS -o /dev/null {url} || exit 1"
    else:
        # ``nc -z`` (netcat-openbsd), a plain ``nc`` connect (busybox has no -z; it returns when the
        # process closes the idle connection, else the check's timeout fails it), or bash's /dev/tcp
        test = (f"nc -z 127.0.0.1 {port} 2>/dev/null || nc 127.0.0.1 {port} </dev/null >/dev/null 2>&1"
                f" || bash -c ': </dev/tcp/127.0.0.1/{port}' 2>/dev/null || exit 1")
    timeout = max(release.healthcheck.timeout, 1.0)
    return {"Test": ["CMD-SHELL", test], "Interval": int(timing.health_interval * NS),
            "Timeout": int(timeout * NS), "Retries": timing.health_retries,
            "StartPeriod": int(release.healthcheck.initial_delay * NS)}


def task_template(release: ReleaseSpec, ptype: str, timing: Timing) -> dict[str, Any]:
    port = port_of(release)
    env = {**release.env, "PORT": str(port)}
    container: dict[str, Any] = {
        "Image": release.image,
        "Env": [f"{key}={value}" for key, value in sorted(env.items())],
        "Labels": labels(release, ptype),
        "Init": True,
        "StopGracePeriod": int(timing.stop_grace * NS),
        "Healthcheck": healthcheck(release, ptype, timing),
    }
    args = process_command(release, ptype)
    if args:
        container["Args"] = args
    limits: dict[str, int] = {}
    if release.memory.get(ptype):
        limits["MemoryBytes"] = memory_bytes(release.memory[ptype])
    if release.cpu.get(ptype):
        limits["NanoCPUs"] = nano_cpus(release.cpu[ptype])
    return {
        "ContainerSpec": container,
        "Resources": {"Limits": limits},
        "RestartPolicy": {"Condition": "any", "Delay": int(timing.restart_delay * NS), "MaxAttempts": 0},
        "ForceUpdate": 0,
    }


def endpoint_spec(release: ReleaseSpec, ptype: str) -> dict[str, Any]:
    """dnsrr; routable types publish ``PORT`` in host mode on a port the swarm picks per task."""
    if ptype not in ROUTABLE_TYPES:
        return {"Mode": "dnsrr"}
    return {"Mode": "dnsrr", "Ports": [{"Protocol": "tcp", "TargetPort": port_of(release), "PublishMode": "host"}]}


def update_config(replicas: int, timing: Timing) -> dict[str, Any]:
    return {"Parallelism": max(1, math.ceil(replicas / 4)), "Delay": int(timing.update_delay * NS),
            "FailureAction": "rollback", "Monitor": int(timing.monitor * NS), "MaxFailureRatio": 0,
            "Order": "start-first"}


def rollback_config(replicas: int, timing: Timing) -> dict[str, Any]:
    return {"Parallelism": max(1, math.ceil(replicas / 4)), "Delay": 0, "FailureAction": "pause",
            "Monitor": int(timing.monitor * NS), "MaxFailureRatio": 0, "Order": "start-first"}


def fingerprint(template: dict[str, Any], endpoint: dict[str, Any]) -> str:
    """A digest of what the tasks run: equal digests mean only the replica count may differ."""
    raw = json.dumps([template, endpoint], sort_keys=True).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def service_spec(release: ReleaseSpec, ptype: str, replicas: int, timing: Timing = Timing()) -> dict[str, Any]:
    """The whole ``ServiceSpec`` of one process type of ``release`` at ``replicas`` tasks."""
    template = task_template(release, ptype, timing)
    endpoint = endpoint_spec(release, ptype)
    return {
        "Name": service_name(release.app, ptype),
        "Labels": {**labels(release, ptype), LABEL_SPEC: fingerprint(template, endpoint),
                   LABEL_PORT: str(port_of(release))},
        "TaskTemplate": template,
        "Mode": {"Replicated": {"Replicas": replicas}},
        "UpdateConfig": update_config(replicas, timing),
        "RollbackConfig": rollback_config(replicas, timing),
        "EndpointSpec": endpoint,
    }


def one_off_spec(release: ReleaseSpec, command: str, name: str, timing: Timing = Timing()) -> dict[str, Any]:
    """A job service that runs ``command`` once in a task of ``release`` (``run``), never restarted."""
    template = task_template(release, "run", timing)
    template["ContainerSpec"]["Args"] = ["sh", "-c", command] if release.dockerfile else [command]
    template["RestartPolicy"] = {"Condition": "none", "MaxAttempts": 0}
    return {
        "Name": name,
        "Labels": labels(release, "run"),
        "TaskTemplate": template,
        "Mode": {"ReplicatedJob": {"MaxConcurrent": 1, "TotalCompletions": 1}},
        "EndpointSpec": {"Mode": "dnsrr"},
    }


def create_arguments(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` as keyword arguments of docker-py's ``APIClient.create_service`` / ``update_service``."""
    args = {"task_template": spec["TaskTemplate"], "name": spec["Name"], "labels": spec["Labels"],
            "mode": spec["Mode"], "endpoint_spec": spec.get("EndpointSpec")}
    if "UpdateConfig" in spec:
        args["update_config"] = spec["UpdateConfig"]
    if "RollbackConfig" in spec:
        args["rollback_config"] = spec["RollbackConfig"]
    return args
