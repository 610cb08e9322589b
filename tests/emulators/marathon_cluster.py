"""The Marathon emulator's state and behaviour, without HTTP: apps and their versions, deployments that
honour ``upgradeStrategy``, tasks with health results, the event bus, and request validation against
``AppDefinition.json``. ``marathon.py`` serves it over Marathon's v2 REST API; see its docstring.
"""
from __future__ import annotations

import http.client
import itertools
import json
import math
import os
import queue
import re
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema

from tests.emulators.marathon_tasks import SimulatedRunner

#: Marathon's own schema and RAML (``../shared/marathon-schema`` beside the repository, as the design
#: describes; ``MARATHON_SCHEMA_DIR`` points elsewhere)
SCHEMA_DIR = Path(os.environ.get("MARATHON_SCHEMA_DIR")
                  or Path(__file__).resolve().parents[2].parent / "shared" / "marathon-schema")
APP_SCHEMA = json.loads((SCHEMA_DIR / "json-schema-v1.7.236" / "AppDefinition.json").read_text())
INFO_EXAMPLE = json.loads((SCHEMA_DIR / "raml-v1.10.26" / "v2" / "examples" / "info.json").read_text())
VALIDATOR = jsonschema.Draft4Validator(APP_SCHEMA)
SEGMENT = re.compile(r"^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])$")
RESERVED = {"restart", "tasks", "versions"}
ACTIVE = ("TASK_STAGING", "TASK_STARTING", "TASK_RUNNING")
UPGRADE_FIELDS = ("cmd", "args", "user", "env", "cpus", "mem", "disk", "gpus", "executor", "constraints", "fetch",
                  "uris", "portDefinitions", "requirePorts", "backoffSeconds", "backoffFactor",
                  "maxLaunchDelaySeconds", "container", "healthChecks", "taskKillGracePeriodSeconds",
                  "dependencies", "upgradeStrategy", "labels", "acceptedResourceRoles", "networks",
                  "readinessChecks", "secrets", "unreachableStrategy", "killSelection")


class HttpError(Exception):
    def __init__(self, status: int, body: dict[str, Any]):
        super().__init__(body.get("message", ""))
        self.status, self.body = status, body


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Seen:
    """A request the emulator received."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any


@dataclass
class Task:
    id: str
    app_id: str
    version: str                 # app version the task was launched with
    config: str                  # versionInfo.lastConfigChangeAt of that version
    definition: dict[str, Any]
    state: str = "TASK_STAGING"
    host: str = "127.0.0.1"
    ports: list[int] = field(default_factory=list)
    staged_at: str = field(default_factory=now)
    started_at: str | None = None
    running_since: float = 0.0
    alive: bool | None = None    # None: no health result yet
    failures: int = 0
    first_success: str | None = None
    last_success: str | None = None
    last_failure: str | None = None
    last_cause: str | None = None
    next_check: float = 0.0
    probing: bool = False
    ever_healthy: bool = False

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def json(self, with_health: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "appId": self.app_id, "host": self.host, "slaveId": "emulated-agent-S0",
            "ports": self.ports if self.state in ACTIVE or self.state == "TASK_KILLING" else [],
            "servicePorts": [], "stagedAt": self.staged_at, "version": self.version, "state": self.state,
            "ipAddresses": [{"ipAddress": "127.0.0.1", "protocol": "IPv4"}], "localVolumes": [],
            "region": "local", "zone": "a", "role": "*",
        }
        if self.started_at:
            out["startedAt"] = self.started_at
        if with_health and self.alive is not None:
            out["healthCheckResults"] = [{
                "alive": self.alive, "consecutiveFailures": self.failures, "firstSuccess": self.first_success,
                "lastSuccess": self.last_success, "lastFailure": self.last_failure,
                "lastFailureCause": self.last_cause, "instanceId": self.id.split("._app")[0]}]
        return out


@dataclass
class App:
    definition: dict[str, Any]                  # as stored (normalized), without server fields
    versions: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_failure: dict[str, Any] | None = None
    launch_delay_until: float = 0.0
    failed_launches: int = 0

    @property
    def id(self) -> str:
        return self.definition["id"]


@dataclass
class Action:
    kind: str       # StartApplication, ScaleApplication, RestartApplication, StopApplication
    app: str
    killed_initially: bool = False


@dataclass
class Deployment:
    id: str
    version: str
    steps: list[list[Action]]
    original: dict[str, dict[str, Any] | None]   # app id -> definition before the change (None: created)
    current: int = 0

    @property
    def apps(self) -> list[str]:
        return sorted({a.app for step in self.steps for a in step})

    def plan(self) -> dict[str, Any]:
        return {"id": self.id, "version": self.version,
                "steps": [{"actions": [{"action": a.kind, "app": a.app} for a in step]} for step in self.steps]}

    def json(self) -> dict[str, Any]:
        step = self.steps[self.current] if self.current < len(self.steps) else []
        return {"id": self.id, "version": self.version, "affectedApps": self.apps, "affectedPods": [],
                "steps": self.plan()["steps"],
                "currentActions": [{"action": a.kind, "app": a.app, "readinessCheckResults": []} for a in step],
                "currentStep": self.current + 1, "totalSteps": len(self.steps)}


class Cluster:
    """One Marathon's state: apps, versions, tasks, deployments and the event bus, advanced by a ticker."""

    def __init__(self, runner: Any = None, health_delay: float = 0.1, check_interval: float | None = 0.05,
                 tick: float = 0.02):
        self.runner = runner or SimulatedRunner()
        self.health_delay = health_delay           # simulated tasks pass their check this long after running
        self.check_interval = check_interval       # overrides the apps' intervalSeconds (fast tests); None: honour
        self.unhealthy_images: set[str] = set()    # simulated tasks of these images never pass a check
        self.apps: dict[str, App] = {}
        self.tasks: dict[str, Task] = {}
        self.deployments: dict[str, Deployment] = {}
        self.requests: list[Seen] = []             # every request, in order
        self.events_sent: list[dict[str, Any]] = []
        self._subscribers: list[tuple[queue.Queue[dict[str, Any] | None], set[str], Any]] = []
        self._lock = threading.RLock()
        self._last_version = ""
        self._tick = tick
        self._stop = threading.Event()
        self._probes = ThreadPoolExecutor(4, thread_name_prefix="probe")
        self._thread = threading.Thread(target=self._loop, name="marathon-emulator", daemon=True)
        self._thread.start()

    # -- bookkeeping --------------------------------------------------------------------------------

    def _version(self) -> str:
        stamp = now()
        while stamp <= self._last_version:
            time.sleep(0.001)
            stamp = now()
        self._last_version = stamp
        return stamp

    def emit(self, event_type: str, **payload: Any) -> None:
        event = {**payload, "eventType": event_type, "timestamp": now()}
        with self._lock:
            self.events_sent.append(event)
            for q, types, _ in list(self._subscribers):
                if not types or event_type in types:
                    q.put(event)

    def subscribe(self, types: set[str], owner: Any) -> queue.Queue[dict[str, Any] | None]:
        q: queue.Queue[dict[str, Any] | None] = queue.Queue()
        with self._lock:
            self._subscribers.append((q, types, owner))
        return q

    def unsubscribe(self, q: queue.Queue[dict[str, Any] | None]) -> None:
        with self._lock:
            self._subscribers = [s for s in self._subscribers if s[0] is not q]

    @property
    def stream_count(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def drop_event_streams(self, owner: Any = None) -> int:
        """End open event streams (all, or those of one server), as a leader abdication does."""
        with self._lock:
            dropped = [s for s in self._subscribers if owner is None or s[2] is owner]
            for q, _, _ in dropped:
                q.put(None)
            self._subscribers = [s for s in self._subscribers if s not in dropped]
            return len(dropped)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.drop_event_streams()
        self._probes.shutdown(wait=False)
        self.runner.close()

    # -- API operations (called by the HTTP layer, under the lock) ----------------------------------

    def locked_by(self, app_ids: list[str]) -> list[Deployment]:
        return [d for d in self.deployments.values() if set(d.apps) & set(app_ids)]

    def check_lock(self, app_ids: list[str], force: bool) -> None:
        blocking = self.locked_by(app_ids)
        if blocking and not force:
            raise HttpError(409, {
                "message": "App is locked by one or more deployments. Override with the option '?force=true'. "
                           f"View details at '/v2/deployments/{blocking[0].id}'.",
                "deployments": [{"id": d.id} for d in blocking]})
        for dep in blocking:
            self._cancel(dep, "DeploymentCanceledException: The upgrade has been cancelled")

    def _cancel(self, dep: Deployment, reason: str) -> None:
        self.deployments.pop(dep.id, None)
        self.emit("deployment_failed", id=dep.id, plan=dep.plan(), reason=reason)

    def put_app(self, app_id: str, body: dict[str, Any], force: bool, partial: bool) -> tuple[Deployment, bool]:
        existing = self.apps.get(app_id)
        self.check_lock([app_id], force)
        if set(body) == {"version"} or (set(body) - {"id"} == {"version"}):
            if existing is None or body["version"] not in existing.versions:
                raise HttpError(404, {"message": f"App '{app_id}' does not exist in version {body.get('version')}"})
            stored = existing.versions[body["version"]]
            merged = {k: v for k, v in stored.items() if k not in ("version", "versionInfo")}
        elif existing is not None and partial:
            merged = {**{k: v for k, v in existing.definition.items() if k not in ("version", "versionInfo")}, **body}
        else:
            merged = dict(body)
        merged["id"] = app_id
        return self._change(app_id, normalize(merged)), existing is None

    def create_app(self, body: dict[str, Any], force: bool) -> Deployment:
        app_id = absolute(body["id"])
        if app_id in self.apps:
            raise HttpError(409, {"message": f"An app with id [{app_id}] already exists."})
        self.check_lock([app_id], force)
        return self._change(app_id, normalize({**body, "id": app_id}))

    def _change(self, app_id: str, definition: dict[str, Any]) -> Deployment:
        existing = self.apps.get(app_id)
        version = self._version()
        before = existing.definition if existing else None
        upgrade = before is None or any(before.get(k) != definition.get(k) for k in UPGRADE_FIELDS)
        info = dict((before or {}).get("versionInfo") or {})
        if upgrade:
            info = {"lastConfigChangeAt": version, "lastScalingAt": version}
        else:
            info["lastScalingAt"] = version
        definition = {**definition, "version": version, "versionInfo": info}
        if existing is None:
            existing = self.apps[app_id] = App(definition)
            steps = [[Action("StartApplication", app_id)], [Action("ScaleApplication", app_id)]]
        else:
            existing.definition = definition
            kind = "RestartApplication" if upgrade else "ScaleApplication"
            steps = [[Action(kind, app_id)]]
        existing.versions[version] = definition
        existing.failed_launches, existing.launch_delay_until = 0, 0.0
        dep = Deployment(str(uuid.uuid4()), version, steps, {app_id: before})
        self.deployments[dep.id] = dep
        self.emit("api_post_event", clientIp="127.0.0.1", uri=f"/v2/apps{app_id}", appDefinition=definition)
        self.emit("deployment_info", plan=dep.plan(), currentStep=dep.plan()["steps"][0])
        return dep

    def delete_apps(self, app_ids: list[str], force: bool) -> Deployment:
        self.check_lock(app_ids, force)
        version = self._version()
        dep = Deployment(str(uuid.uuid4()), version, [[Action("StopApplication", a) for a in app_ids]],
                         {a: self.apps[a].definition for a in app_ids})
        for app_id in app_ids:   # gone from the API at once; its tasks are killed by the deployment
            del self.apps[app_id]
            self.emit("app_terminated_event", appId=app_id)
        self.deployments[dep.id] = dep
        self.emit("deployment_info", plan=dep.plan(), currentStep=dep.plan()["steps"][0])
        return dep

    def restart_app(self, app_id: str, force: bool) -> Deployment:
        self.check_lock([app_id], force)
        app = self.apps[app_id]
        version = self._version()
        app.definition = {**app.definition, "version": version,
                          "versionInfo": {"lastConfigChangeAt": version, "lastScalingAt": version}}
        app.versions[version] = app.definition
        dep = Deployment(str(uuid.uuid4()), version, [[Action("RestartApplication", app_id)]],
                         {app_id: app.definition})
        self.deployments[dep.id] = dep
        self.emit("deployment_info", plan=dep.plan(), currentStep=dep.plan()["steps"][0])
        return dep

    def revert(self, dep: Deployment) -> Deployment:
        """``DELETE /v2/deployments/<id>``: cancel it and deploy the original definitions back."""
        self._cancel(dep, "DeploymentCanceledException: The upgrade has been cancelled")
        version = self._version()
        steps: list[list[Action]] = [[]]
        for app_id, original in dep.original.items():
            app = self.apps.get(app_id)
            if original is None:
                if app is not None:
                    steps[0].append(Action("StopApplication", app_id))
                continue
            if app is None:
                app = self.apps[app_id] = App(dict(original))
            app.definition = dict(original)   # same version: its tasks are current again
            steps[0].append(Action("RestartApplication", app_id))
        back = Deployment(str(uuid.uuid4()), version, [s for s in steps if s],
                          {a: (self.apps[a].definition if a in self.apps else None) for a in dep.original})
        self.deployments[back.id] = back
        self.emit("deployment_info", plan=back.plan(), currentStep=back.plan()["steps"][0] if back.steps else {})
        return back

    def kill_tasks(self, task_ids: list[str], scale: bool) -> list[Task]:
        killed = []
        for tid in task_ids:
            task = self.tasks.get(tid)
            if task is None or not task.active:
                continue
            if scale and task.app_id in self.apps:
                app = self.apps[task.app_id]
                app.definition = {**app.definition, "instances": max(0, app.definition["instances"] - 1)}
            self._kill(task)
            killed.append(task)
        return killed

    # -- the ticker: tasks, health, deployments -------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.wait(self._tick):
            with self._lock:
                self._health()
                for dep in list(self.deployments.values()):
                    self._advance(dep)
                self._keep_instances()

    def _app_tasks(self, app_id: str) -> list[Task]:
        return [t for t in self.tasks.values() if t.app_id == app_id]

    def _killing(self, app_id: str) -> bool:
        return any(t.state == "TASK_KILLING" for t in self._app_tasks(app_id))

    def _ready(self, task: Task) -> bool:
        if task.state != "TASK_RUNNING":
            return False
        return task.alive is True if task.definition.get("healthChecks") else True

    def _launch(self, app: App) -> None:
        if time.monotonic() < app.launch_delay_until:
            return
        definition = app.definition
        tid = f"{app.id.strip('/').replace('/', '_')}.instance-{uuid.uuid4()}._app.1"
        task = Task(tid, app.id, definition["version"], definition["versionInfo"]["lastConfigChangeAt"], definition)
        self.tasks[tid] = task
        self._status(task, "")
        self.runner.start(tid, definition, self._started, self._ended)

    def _started(self, tid: str, host: str, ports: list[int]) -> None:
        with self._lock:
            task = self.tasks.get(tid)
            if task is None or task.state != "TASK_STAGING":
                return
            task.state, task.host, task.ports = "TASK_RUNNING", host, ports
            task.started_at, task.running_since = now(), time.monotonic()
            task.next_check = time.monotonic() + (self.health_delay if not self.runner.real else 0)
            self._status(task, "")

    def _ended(self, tid: str, state: str, message: str) -> None:
        with self._lock:
            task = self.tasks.pop(tid, None)
            if task is None:
                return
            was_killing = task.state == "TASK_KILLING"
            task.state = state
            self._status(task, message)
            app = self.apps.get(task.app_id)
            if app is not None and not was_killing and state != "TASK_KILLED":
                app.last_failure = {"appId": app.id, "host": task.host, "message": message, "state": state,
                                    "taskId": tid, "timestamp": now(), "version": task.version}
                app.failed_launches += 1
                backoff = app.definition.get("backoffSeconds", 1) * app.definition.get("backoffFactor", 1.15) ** (
                    app.failed_launches - 1)
                limit = app.definition.get("maxLaunchDelaySeconds", 300)
                app.launch_delay_until = time.monotonic() + min(backoff, limit)

    def _status(self, task: Task, message: str) -> None:
        self.emit("status_update_event", slaveId="emulated-agent-S0", taskId=task.id, taskStatus=task.state,
                  message=message, appId=task.app_id, host=task.host,
                  ipAddresses=[{"ipAddress": "127.0.0.1", "protocol": "IPv4"}], ports=task.ports,
                  version=task.version)

    def _kill(self, task: Task) -> None:
        if task.state == "TASK_KILLING":
            return
        task.state = "TASK_KILLING"
        self._status(task, "")
        grace = float(task.definition.get("taskKillGracePeriodSeconds") or 3)
        self.runner.kill(task.id, grace, self._ended)

    def _health(self) -> None:
        clock = time.monotonic()
        for task in list(self.tasks.values()):
            checks = task.definition.get("healthChecks") or []
            if task.state != "TASK_RUNNING" or not checks or task.probing or clock < task.next_check:
                continue
            check = checks[0]
            interval = self.check_interval if self.check_interval is not None else check.get("intervalSeconds", 60)
            task.next_check = clock + interval
            if self.runner.real:
                task.probing = True
                self._probes.submit(self._probe, task, check)
            else:
                image = task.definition["container"]["docker"]["image"]
                self._result(task, check, image not in self.unhealthy_images,
                             "ConnectException: Connection refused")

    def _probe(self, task: Task, check: dict[str, Any]) -> None:
        ok, cause = False, ""
        try:
            port = task.ports[check.get("portIndex", 0)]
            timeout = check.get("timeoutSeconds", 20)
            if check.get("protocol", "HTTP") in ("HTTP", "MESOS_HTTP"):
                conn = http.client.HTTPConnection(task.host, port, timeout=timeout)
                try:
                    conn.request("GET", check.get("path", "/"))
                    status = conn.getresponse().status
                    ok, cause = 200 <= status < 400, f"HTTP {status}"
                finally:
                    conn.close()
            else:
                with socket.create_connection((task.host, port), timeout=timeout):
                    ok = True
        except (OSError, IndexError) as exc:
            cause = f"{type(exc).__name__}: {exc}"
        with self._lock:
            task.probing = False
            if task.state == "TASK_RUNNING":
                self._result(task, check, ok, cause)

    def _result(self, task: Task, check: dict[str, Any], ok: bool, cause: str) -> None:
        stamp = now()
        before = task.alive
        if ok:
            task.alive, task.failures, task.ever_healthy = True, 0, True
            task.first_success = task.first_success or stamp
            task.last_success = stamp
        else:
            grace = check.get("gracePeriodSeconds", 300)
            if not task.ever_healthy and time.monotonic() - task.running_since < grace:
                return   # failures within the grace period are ignored
            task.alive = False
            task.failures += 1
            task.last_failure, task.last_cause = stamp, cause
            self.emit("failed_health_check_event", appId=task.app_id, taskId=task.id, healthCheck=check)
        if before != task.alive:
            self.emit("health_status_changed_event", appId=task.app_id, instanceId=task.id.split("._app")[0],
                      version=task.version, alive=task.alive)
            self.emit("instance_health_changed_event", instanceId=task.id.split("._app")[0], runSpecId=task.app_id,
                      runSpecVersion=task.version, healthy=task.alive)
        limit = check.get("maxConsecutiveFailures", 3)
        if not ok and limit and task.failures >= limit:
            self.emit("unhealthy_instance_kill_event", appId=task.app_id, taskId=task.id,
                      instanceId=task.id.split("._app")[0], version=task.version,
                      reason=f"{check.get('protocol', 'HTTP')} health check failed", host=task.host,
                      slaveId="emulated-agent-S0")
            self._kill(task)

    def _advance(self, dep: Deployment) -> None:
        if dep.current >= len(dep.steps):
            return
        step = dep.steps[dep.current]
        if all(self._act(action) for action in step):
            self.emit("deployment_step_success", plan=dep.plan(),
                      currentStep={"actions": [{"action": a.kind, "app": a.app} for a in step]})
            dep.current += 1
            if dep.current >= len(dep.steps):
                self.deployments.pop(dep.id, None)
                self.emit("deployment_success", id=dep.id, plan=dep.plan())

    def _act(self, action: Action) -> bool:
        """Move one action on; True when it is done."""
        app = self.apps.get(action.app)
        tasks = [t for t in self._app_tasks(action.app) if t.active]
        if action.kind == "StopApplication":
            for task in tasks:
                self._kill(task)
            return not self._app_tasks(action.app)
        if app is None or action.kind == "StartApplication":
            return True
        if action.kind == "ScaleApplication":
            return self._scale(app, tasks)
        return self._restart(app, tasks, action)

    def _scale(self, app: App, tasks: list[Task]) -> bool:
        wanted = app.definition["instances"]
        if len(tasks) > wanted:
            order = sorted(tasks, key=lambda t: t.staged_at,
                           reverse=app.definition.get("killSelection", "YOUNGEST_FIRST") == "YOUNGEST_FIRST")
            for task in order[:len(tasks) - wanted]:
                self._kill(task)
        for _ in range(wanted - len(tasks)):
            self._launch(app)
        return len(tasks) == wanted and all(self._ready(t) for t in tasks) and not self._killing(app.id)

    def _restart(self, app: App, tasks: list[Task], action: Action) -> bool:
        """TaskReplaceActor's strategy: kill what ``minimumHealthCapacity`` allows at once, start new tasks
        up to ``maximumOverCapacity``, and let one old task go for each new one that turns healthy."""
        wanted = app.definition["instances"]
        config = app.definition["versionInfo"]["lastConfigChangeAt"]
        strategy = app.definition.get("upgradeStrategy") or {}
        min_healthy = math.ceil(wanted * strategy.get("minimumHealthCapacity", 1))
        max_capacity = math.floor(wanted * (1 + strategy.get("maximumOverCapacity", 1)))
        if min_healthy == max_capacity:
            max_capacity += 1
        new = [t for t in tasks if t.config == config]
        old = [t for t in tasks if t.config != config]
        if not action.killed_initially:
            action.killed_initially = True
            for task in sorted(old, key=lambda t: self._ready(t))[:max(0, len(old) - min_healthy)]:
                self._kill(task)
            old = [t for t in old if t.active]
        ready_new = [t for t in new if self._ready(t)]
        keep = max(0, min(len(old), min_healthy - len(ready_new)))
        for task in sorted(old, key=lambda t: self._ready(t))[:len(old) - keep]:
            self._kill(task)
        old = [t for t in old if t.active]
        for task in sorted(new, key=lambda t: t.staged_at, reverse=True)[:max(0, len(new) - wanted)]:
            self._kill(task)
        room = max_capacity - len(old) - len(new)
        for _ in range(max(0, min(wanted - len(new), room))):
            self._launch(app)
        return len(ready_new) >= wanted and not old and len(new) == wanted and not self._killing(app.id)

    def _keep_instances(self) -> None:
        """Marathon's launch queue: apps outside deployments get back to ``instances`` tasks."""
        busy = {a for d in self.deployments.values() for a in d.apps}
        for app in list(self.apps.values()):
            if app.id in busy:
                continue
            active = [t for t in self._app_tasks(app.id) if t.active]
            for _ in range(app.definition["instances"] - len(active)):
                self._launch(app)

    # -- JSON views ------------------------------------------------------------------------------

    def app_json(self, app: App, embed_tasks: bool) -> dict[str, Any]:
        tasks = self._app_tasks(app.id)
        checks = bool(app.definition.get("healthChecks"))
        out = dict(app.definition)
        out.update({
            "tasksStaged": sum(t.state == "TASK_STAGING" for t in tasks),
            "tasksRunning": sum(t.state == "TASK_RUNNING" for t in tasks),
            "tasksHealthy": sum(t.alive is True for t in tasks) if checks else 0,
            "tasksUnhealthy": sum(t.alive is False for t in tasks) if checks else 0,
            "deployments": [{"id": d.id} for d in self.locked_by([app.id])],
        })
        if embed_tasks:
            out["tasks"] = [t.json(checks) for t in sorted(tasks, key=lambda t: t.staged_at)]
        if app.last_failure:
            out["lastTaskFailure"] = app.last_failure
        return out


def absolute(app_id: str) -> str:
    return "/" + "/".join(s for s in app_id.split("/") if s)


def normalize(definition: dict[str, Any]) -> dict[str, Any]:
    """Marathon's defaults, as it stores and returns an app (``AppNormalization``)."""
    out = {"instances": 1, "cpus": 1, "mem": 128, "disk": 0, "gpus": 0, "env": {}, "labels": {},
           "constraints": [], "healthChecks": [], "backoffSeconds": 1, "backoffFactor": 1.15,
           "maxLaunchDelaySeconds": 300, "upgradeStrategy": {"minimumHealthCapacity": 1, "maximumOverCapacity": 1},
           "killSelection": "YOUNGEST_FIRST", "requirePorts": False, "executor": "", "fetch": [],
           "dependencies": [], "readinessChecks": [], "secrets": {},
           "unreachableStrategy": {"inactiveAfterSeconds": 0, "expungeAfterSeconds": 0}, **definition}
    out["healthChecks"] = [{"protocol": "HTTP", "path": "/", "gracePeriodSeconds": 300, "intervalSeconds": 60,
                            "timeoutSeconds": 20, "maxConsecutiveFailures": 3, "delaySeconds": 15,
                            "ignoreHttp1xx": False, "ipProtocol": "IPv4", **check} for check in out["healthChecks"]]
    for check in out["healthChecks"]:
        if check["protocol"] not in ("HTTP", "HTTPS", "MESOS_HTTP", "MESOS_HTTPS"):
            check.pop("path", None)
        if "port" not in check:
            check.setdefault("portIndex", 0)
    container = out.get("container")
    if container:
        container = out["container"] = {"type": "DOCKER", "volumes": [], "portMappings": [], **container}
        if "docker" in container:
            container["docker"] = {"forcePullImage": False, "privileged": False, "parameters": [],
                                   **container["docker"]}
        ports = itertools.count(10000)
        container["portMappings"] = [{"hostPort": 0, "protocol": "tcp", "servicePort": next(ports), "labels": {},
                                      **m} for m in container["portMappings"]]
    networks = out.setdefault("networks", [{"mode": "host"}])
    if networks == [{"mode": "host"}] and "portDefinitions" not in out:
        out["portDefinitions"] = [{"port": 0, "protocol": "tcp", "name": "default", "labels": {}}]
    out.setdefault("portDefinitions", [])
    return out


def validate(body: Any) -> None:
    """422 in Marathon's format for a body failing ``AppDefinition.json`` or Marathon's id rules."""
    if not isinstance(body, dict):
        raise HttpError(422, {"message": "Object is not valid",
                              "details": [{"path": "/", "errors": ["error.expected.jsobject"]}]})
    details: dict[str, list[str]] = {}
    for error in VALIDATOR.iter_errors(body):
        path = "/" + "/".join(str(p) for p in error.absolute_path)
        details.setdefault(path, []).append(error.message)
    if isinstance(body.get("id"), str):
        segments = [s for s in body["id"].split("/") if s]
        if not segments or any(not SEGMENT.match(s) and s not in (".", "..") for s in segments):
            details.setdefault("/id", []).append(
                "must fully match regular expression '^(([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])\\.)*"
                "([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])|(\\.|\\.\\.)$'")
        elif segments[-1] in RESERVED:
            details.setdefault("/id", []).append(f"must not end with {segments[-1]}")
    if details:
        raise HttpError(422, {"message": "Object is not valid",
                              "details": [{"path": p, "errors": e} for p, e in sorted(details.items())]})
