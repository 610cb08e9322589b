"""Marathon app definitions, decided in pure functions: ``ReleaseSpec`` + process type + instances -> the
JSON body of ``PUT /v2/apps/<app>/<type>`` (Marathon v2, validated against ``AppDefinition.json``).

Choices, and why (``../shared/reference/marathon.md``):

* One Marathon app per process type, ``/<app>/<type>``: Marathon's own rolling restart replaces the tasks
  of a release in place, gated on health, and a scale is a change of ``instances`` only. Names that do
  not fit Marathon's id rules get a cleaned name plus a short digest, so the mapping stays one to one.
* Docker containerizer on the bridge network; routable types (``web``, ``cmd``) map ``PORT`` inside the
  container to a host port Marathon picks (``hostPort: 0``): any number of tasks share an agent and a
  new task never waits for an old one's port. ``PORT`` is set in ``env``, so the process listens on
  the container port whatever Marathon puts in ``PORT0``.
* Health: ``HEALTHCHECK_URL`` as an HTTP check, else a TCP connect, on that port (``portIndex`` 0);
  other types have none (Marathon counts them healthy once running).
* ``upgradeStrategy`` ``{minimumHealthCapacity: 1, maximumOverCapacity: 1}``: every new task starts
  before an old one is killed, so capacity never drops (zero downtime, at the cost of twice the
  resources during a rollout). ``taskKillGracePeriodSeconds``: SIGTERM, then SIGKILL after it.
* Labels say which app, release and type an app runs, plus ``app-layer.spec``, a digest of everything
  but ``instances``: equal digests mean a deploy is a scale (or nothing at all).
* Resources: ``cpus`` = CPU shares / 1024 (``DEFAULT_CPUS`` when unset), ``mem`` = the memory limit in
  MB (``DEFAULT_MEM`` when unset): Marathon needs a reservation for every task.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from app_layer.backends import health
from app_layer.backends.base import ROUTABLE_TYPES, ReleaseSpec
from app_layer.backends.docker import process_command
from app_layer.backends.swarm_spec import memory_bytes

LABEL_APP, LABEL_RELEASE, LABEL_TYPE = "app-layer.app", "app-layer.release", "app-layer.type"
LABEL_SPEC = "app-layer.spec"
DEFAULT_PORT = 5000
DEFAULT_CPUS = 0.25     # a quarter of a core: several processes fit an agent; scale out with instances
DEFAULT_MEM = 256       # MB
PORT_NAME = "http"
_SEGMENT = re.compile(r"^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])$")
_RESERVED = {"restart", "tasks", "versions"}


@dataclass(frozen=True)
class Timing:
    """Health check and kill timings, in whole seconds (Marathon's unit). Tests shorten them."""

    health_interval: int = 2
    grace_period: int = 30          # failures ignored this long after a task starts (first success ends it)
    max_failures: int = 3           # consecutive failures before Marathon kills and replaces a task
    kill_grace: int = 10            # SIGTERM -> SIGKILL


def segment(name: str) -> str:
    """``name`` as one Marathon id segment: itself when Marathon accepts it, else a cleaned name plus a
    digest of the original (``my_worker`` -> ``my-worker-1a2b3c``), so two names never share an id."""
    if _SEGMENT.match(name) and name not in _RESERVED:
        return name
    cleaned = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-") or "x"
    return f"{cleaned}-{hashlib.sha1(name.encode()).hexdigest()[:6]}"


def group_id(app: str) -> str:
    return f"/{segment(app)}"


def app_id(app: str, ptype: str) -> str:
    return f"{group_id(app)}/{segment(ptype)}"


def port_of(release: ReleaseSpec) -> int:
    return release.port or DEFAULT_PORT


def cpus(release: ReleaseSpec, ptype: str) -> float:
    shares = release.cpu.get(ptype)
    return round(shares / 1024, 3) if shares else DEFAULT_CPUS


def mem(release: ReleaseSpec, ptype: str) -> float:
    limit = release.memory.get(ptype)
    return math.ceil(memory_bytes(limit) / 1024 ** 2) if limit else DEFAULT_MEM


def health_checks(release: ReleaseSpec, ptype: str, timing: Timing = Timing()) -> list[dict[str, Any]]:
    if ptype not in ROUTABLE_TYPES:
        return []
    check = release.healthcheck
    common = {"portIndex": 0, "gracePeriodSeconds": max(timing.grace_period, math.ceil(check.initial_delay)),
              "intervalSeconds": timing.health_interval, "timeoutSeconds": max(1, math.ceil(check.timeout)),
              "maxConsecutiveFailures": timing.max_failures}
    path = health.check_path(check.url)
    if path:
        return [{"protocol": "HTTP", "path": path, **common}]
    return [{"protocol": "TCP", **common}]


def container(release: ReleaseSpec, ptype: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": "DOCKER", "docker": {"image": release.image, "forcePullImage": False},
                            "portMappings": []}
    if ptype in ROUTABLE_TYPES:
        spec["portMappings"] = [{"containerPort": port_of(release), "hostPort": 0, "protocol": "tcp",
                                 "name": PORT_NAME}]
    return spec


def labels(release: ReleaseSpec, ptype: str) -> dict[str, str]:
    return {LABEL_APP: release.app, LABEL_RELEASE: str(release.version), LABEL_TYPE: ptype}


def fingerprint(definition: dict[str, Any]) -> str:
    """A digest of what the tasks run: everything but ``instances`` and the digest itself."""
    content = {k: v for k, v in definition.items() if k != "instances"}
    content["labels"] = {k: v for k, v in (definition.get("labels") or {}).items() if k != LABEL_SPEC}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def app_definition(release: ReleaseSpec, ptype: str, instances: int, timing: Timing = Timing()) -> dict[str, Any]:
    """The whole Marathon app of one process type of ``release`` at ``instances`` tasks."""
    definition: dict[str, Any] = {
        "id": app_id(release.app, ptype),
        "instances": instances,
        "cpus": cpus(release, ptype),
        "mem": mem(release, ptype),
        "disk": 0,
        "container": container(release, ptype),
        "networks": [{"mode": "container/bridge"}],
        "env": {**release.env, "PORT": str(port_of(release))},
        "labels": labels(release, ptype),
        "healthChecks": health_checks(release, ptype, timing),
        "upgradeStrategy": {"minimumHealthCapacity": 1, "maximumOverCapacity": 1},
        "taskKillGracePeriodSeconds": timing.kill_grace,
        "killSelection": "YOUNGEST_FIRST",
        "constraints": [],
    }
    args = process_command(release, ptype)
    if args:
        definition["args"] = args
    definition["labels"][LABEL_SPEC] = fingerprint(definition)
    return definition
