"""The Docker Swarm backend: each process type of a release is a swarm service ``<app>_<type>``.

``APP_LAYER_SCHEDULER=swarm`` with ``DOCKER_HOST`` naming a manager (several, comma separated,
are tried in turn, so the controller survives the loss of one manager). What the services look
like is decided in ``swarm_spec`` (pure); this module acts and observes:

* ``deploy`` creates or updates one service per process type and waits: a new service until its
  tasks run (the swarm only calls a task running once its health check passed), an updated one
  until the swarm reports the update ``completed``. The swarm itself starts new tasks first and
  rolls back on failure; a rollback (or a timeout, after which we roll back ourselves) becomes
  ``RolloutFailed`` with the swarm's reason, and every other service of the app is put back too.
  A scale changes ``Replicas`` only, so no task is replaced. Types left out of the formation lose
  their service once the rest is healthy.
* ``processes`` maps tasks to ``Process`` values: task state, health (a ``running`` task with a
  health check is healthy; a task told to shut down is not), the node's address and the host port
  the swarm published ``PORT`` on. Tasks on nodes that are not ``ready`` are left out: the router
  must stop sending to them at once, and the swarm starts their replacements elsewhere.
* ``run`` is a one-task job service; its exit code and output come from the task and the service
  logs. ``logs`` and ``follow`` read the service logs (the swarm fetches them from every node).

The swarm has no drain hook: a task told to stop gets SIGTERM as soon as its node hears of it, so
the router drops it the moment its desired state changes, and processes are expected to finish
the requests they hold (Heroku's SIGTERM contract) within ``stop_grace`` seconds.
Images stay in the nodes' caches after ``destroy`` (the manager cannot remove them remotely).
"""
from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import docker
import requests
from docker.errors import APIError, DockerException, NotFound

from app_layer.backends import health
from app_layer.backends import swarm_spec as specs
from app_layer.backends.base import ROUTABLE_TYPES, Backend, Capability, LogLine, Process, ReleaseSpec
from app_layer.backends.base import State as S
from app_layer.backends.docker_logs import parse_docker_line
from app_layer.errors import RolloutFailed, Unavailable
from app_layer.settings import Settings

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
POLL = 0.25
FAILED_TASK_STATES = ("failed", "rejected")
ROLLED_BACK = ("rollback_started", "rollback_paused", "rollback_completed", "paused")
_TASK_STATES = {"new": S.INITIALIZED, "allocated": S.INITIALIZED, "pending": S.INITIALIZED,
                "assigned": S.INITIALIZED, "accepted": S.CREATED, "preparing": S.CREATED, "ready": S.CREATED,
                "starting": S.STARTING, "running": S.UP, "complete": S.DOWN, "shutdown": S.DOWN,
                "failed": S.CRASHED, "rejected": S.ERROR, "orphaned": S.DESTROYED, "remove": S.DESTROYED}


def from_settings(settings: Settings) -> SwarmBackend:
    hosts = [h.strip() for h in settings.docker_host.split(",") if h.strip()] or [DEFAULT_SOCKET]
    return SwarmBackend(hosts, specs.Timing(stop_grace=settings.stop_grace))


@dataclass
class _Step:
    """One service a deploy touches, and how to undo it."""

    kind: str            # "create", "update" or "scale"
    service_id: str
    ptype: str
    replicas: int
    done: bool = False
    failure: str = ""
    restored: bool = False   # back on the spec it had before (the swarm's rollback, or ours)


class SwarmBackend(Backend):
    name = "swarm"
    capabilities = frozenset({Capability.HEALTH_CHECKS, Capability.ROLLING_DEPLOY, Capability.RUN,
                              Capability.LOGS, Capability.RESTART})

    def __init__(self, managers: list[str] | str = DEFAULT_SOCKET, timing: specs.Timing = specs.Timing(),
                 api_timeout: float = 30.0):
        self.managers = [managers] if isinstance(managers, str) else list(managers)
        self.timing = timing
        self.api_timeout = api_timeout
        self._client: docker.APIClient | None = None
        self._lock = threading.Lock()

    # -- the manager connection ------------------------------------------------------------------

    def _api(self) -> docker.APIClient:
        """A client of the first manager that answers (the one that answered last, while it does)."""
        with self._lock:
            if self._client is not None:
                return self._client
            for url in self.managers:
                try:
                    client = docker.APIClient(base_url=url, version="auto", timeout=self.api_timeout)
                except (DockerException, requests.exceptions.RequestException):
                    continue
                self._client = client
                return client
            raise Unavailable(self._down())

    def _down(self) -> str:
        return f"No swarm manager answers at {', '.join(self.managers)}; try again when one is back."

    def _forget(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
            self._client = None

    @contextmanager
    def _engine(self) -> Iterator[docker.APIClient]:
        """The client; an unreachable manager or a swarm without a leader become ``Unavailable``."""
        try:
            yield self._api()
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout):
            self._forget()  # the next call tries the managers again, in order
            raise Unavailable(self._down()) from None
        except APIError as exc:
            if exc.status_code is not None and exc.status_code >= 500:
                raise Unavailable(f"The swarm failed: {exc.explanation}") from None
            raise

    def close(self) -> None:
        self._forget()

    # -- observing -------------------------------------------------------------------------------

    def _services(self, api: docker.APIClient, app: str | None) -> list[dict[str, Any]]:
        label = f"{specs.LABEL_APP}={app}" if app is not None else specs.LABEL_APP
        return api.services(filters={"label": label})

    def processes(self, app: str | None = None) -> list[Process]:
        with self._engine() as api:
            services = {s["ID"]: s for s in self._services(api, app)}
            if not services:
                return []
            nodes = {n["ID"]: n for n in api.nodes()}
            tasks = api.tasks(filters={"service": list(services)})
        procs = [_process(task, services[task["ServiceID"]], nodes) for task in tasks
                 if task.get("ServiceID") in services]
        return sorted((p for p in procs if p is not None), key=lambda p: (p.app, p.type, p.num, p.version))

    # -- deploying -------------------------------------------------------------------------------

    def deploy(self, release: ReleaseSpec, formation: dict[str, int], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        wanted = {ptype: count for ptype, count in formation.items() if count > 0 and ptype != "run"}
        with self._engine() as api:
            current = {s["Spec"]["Labels"].get(specs.LABEL_TYPE): s for s in self._services(api, release.app)
                       if s["Spec"]["Labels"].get(specs.LABEL_TYPE) != "run"}
            steps: list[_Step] = []
            try:
                for ptype, count in sorted(wanted.items()):
                    step = self._apply(api, release, ptype, count, current.get(ptype))
                    if step is not None:
                        steps.append(step)
            except APIError as exc:
                self._undo(api, steps)
                if (exc.status_code or 0) >= 500:
                    raise
                raise RolloutFailed(f"v{release.version} of {release.app} was refused by the swarm: "
                                    f"{exc.explanation}") from None
            failure = self._await(api, release, steps, deadline, timeout)
            if failure:
                self._undo(api, steps)
                self._await_restored(api, release, steps, time.monotonic() + max(30.0, timeout))
                raise RolloutFailed(f"v{release.version} of {release.app}: {failure}")
            for ptype, service in current.items():
                if ptype not in wanted:
                    _quietly(lambda s=service: api.remove_service(s["ID"]))

    def _apply(self, api: docker.APIClient, release: ReleaseSpec, ptype: str, count: int,
               service: dict[str, Any] | None) -> _Step | None:
        spec = specs.service_spec(release, ptype, count, self.timing)
        if service is None:
            created = api.create_service(**specs.create_arguments(spec))
            return _Step("create", created["ID"], ptype, count)
        have = service["Spec"]
        same_tasks = (have["Labels"].get(specs.LABEL_SPEC) == spec["Labels"][specs.LABEL_SPEC]
                      and have["Labels"].get(specs.LABEL_RELEASE) == spec["Labels"][specs.LABEL_RELEASE])
        replicas = ((have.get("Mode") or {}).get("Replicated") or {}).get("Replicas")
        if same_tasks and replicas == count:
            return None
        if same_tasks:  # a scale: keep the task template exactly as it is, so no task is replaced
            spec = {**have, "Mode": spec["Mode"], "UpdateConfig": spec["UpdateConfig"],
                    "RollbackConfig": spec["RollbackConfig"]}
        api.update_service(service["ID"], service["Version"]["Index"], **specs.create_arguments(spec))
        return _Step("scale" if same_tasks else "update", service["ID"], ptype, count)

    def _await(self, api: docker.APIClient, release: ReleaseSpec, steps: list[_Step], deadline: float,
               timeout: float) -> str:
        """Wait until every step is done; '' or why not (the swarm has rolled back by then)."""
        while True:
            for step in steps:
                if not step.done and not step.failure:
                    self._check(api, release, step)
            failed = [s for s in steps if s.failure]
            if failed and all(s.done or s.failure for s in steps):
                return "; ".join(f"{s.ptype}: {s.failure}" for s in failed)
            if all(s.done for s in steps):
                return ""
            if time.monotonic() >= deadline:
                slow = [s.ptype for s in steps if not s.done and not s.failure]
                return "; ".join([f"{s.ptype}: {s.failure}" for s in failed]
                                 + [f"{', '.join(slow)} not healthy within {timeout:g}s"])
            time.sleep(POLL)

    def _check(self, api: docker.APIClient, release: ReleaseSpec, step: _Step) -> None:
        service = api.inspect_service(step.service_id)
        status = service.get("UpdateStatus") or {}
        tasks = api.tasks(filters={"service": step.service_id})
        if step.kind == "update" and status.get("State") in ROLLED_BACK:
            if status["State"] in ("rollback_completed", "rollback_paused", "paused"):
                step.failure = _rollback_reason(status, tasks, release.version, check_text(release, step.ptype))
                step.restored = status["State"] == "rollback_completed"
            return
        if step.kind == "update" and status.get("State") == "updating":
            return
        ready = {n["ID"] for n in api.nodes() if (n.get("Status") or {}).get("State") == "ready"}
        tasks = [t for t in tasks if t.get("NodeID") in ready or not t.get("NodeID")]  # a lost node reports nothing
        mine = [t for t in tasks if _version(t) == release.version and t.get("DesiredState") == "running"]
        running = [t for t in mine if t["Status"]["State"] == "running"]
        others = [t for t in tasks if t["Status"]["State"] == "running" and t not in running]
        if len(running) == step.replicas and not others:  # == : a scale down is done when the extras are gone
            step.done = True
            return
        crashed = [t for t in tasks if _version(t) == release.version and t["Status"]["State"] in FAILED_TASK_STATES]
        if step.kind == "create" and len(crashed) >= max(2, step.replicas):
            step.failure = f"its tasks keep failing ({_task_error(crashed[-1])})"

    def _roll_back(self, api: docker.APIClient, step: _Step) -> None:
        """Put a service back to the spec it had before this deploy."""
        service = _quietly(lambda: api.inspect_service(step.service_id))
        if not service or not service.get("PreviousSpec"):
            return
        if ((service.get("UpdateStatus") or {}).get("State") or "").startswith("rollback"):
            return  # the swarm is already rolling it back
        _quietly(lambda: api.update_service(step.service_id, service["Version"]["Index"],
                                            **specs.create_arguments(service["PreviousSpec"])))

    def _undo(self, api: docker.APIClient, steps: list[_Step]) -> None:
        """After a failure: remove the services this deploy created, restore the ones it changed
        (those the swarm has not rolled back itself: timed out, or updated fine beside a failed one)."""
        for step in steps:
            if step.kind == "create":
                _quietly(lambda s=step: api.remove_service(s.service_id))
            elif step.kind == "update" and not step.restored:
                self._roll_back(api, step)

    def _await_restored(self, api: docker.APIClient, release: ReleaseSpec, steps: list[_Step],
                        until: float) -> None:
        """Wait (until ``until`` at most) for the services we put back to run no task of ``release``,
        so that what serves after a failed deploy is what served before it."""
        pending = [s for s in steps if s.kind == "update" and not s.restored]
        while pending and time.monotonic() < until:
            ready = {n["ID"] for n in api.nodes() if (n.get("Status") or {}).get("State") == "ready"}
            for step in list(pending):
                status = (api.inspect_service(step.service_id).get("UpdateStatus") or {}).get("State")
                tasks = [t for t in api.tasks(filters={"service": step.service_id}) if t.get("NodeID") in ready]
                if status != "updating" and not any(_version(t) == release.version and t["Status"]["State"] in
                                                    ("running", "starting", "preparing", "ready") for t in tasks):
                    pending.remove(step)
            if pending:
                time.sleep(POLL)

    def destroy(self, app: str) -> None:
        with self._engine() as api:
            for service in self._services(api, app):
                _quietly(lambda s=service: api.remove_service(s["ID"]))

    # -- restart, run, logs ----------------------------------------------------------------------

    def restart(self, app: str, process_type: str | None = None, num: int | None = None) -> list[Process]:
        """A rolling restart (new tasks first) of the matching services; a single task cannot be
        restarted on its own in a swarm, so ``num`` restarts its whole service."""
        with self._engine() as api:
            for service in self._services(api, app):
                labels = service["Spec"]["Labels"]
                if labels.get(specs.LABEL_TYPE) == "run" or process_type not in (None, labels.get(specs.LABEL_TYPE)):
                    continue
                spec = dict(service["Spec"])
                template = dict(spec["TaskTemplate"])
                template["ForceUpdate"] = int(template.get("ForceUpdate") or 0) + 1
                spec["TaskTemplate"] = template
                api.update_service(service["ID"], service["Version"]["Index"], **specs.create_arguments(spec))
                self._await_update(api, service["ID"], time.monotonic() + self.api_timeout * 4)
        return [p for p in self.processes(app) if process_type in (None, p.type) and num in (None, p.num)]

    def _await_update(self, api: docker.APIClient, service_id: str, until: float) -> None:
        """Wait for an update to finish: the swarm says so, and no task told to stop still runs."""
        while time.monotonic() < until:
            state = (api.inspect_service(service_id).get("UpdateStatus") or {}).get("State")
            if state in ROLLED_BACK:
                raise RolloutFailed(f"the swarm rolled the restart of {service_id} back")
            stopping = [t for t in api.tasks(filters={"service": service_id})
                        if t.get("DesiredState") != "running" and t["Status"]["State"] == "running"]
            if state == "completed" and not stopping:
                return
            time.sleep(POLL)
        raise Unavailable(f"the restart of {service_id} did not finish in time; the swarm goes on with it")

    def run(self, release: ReleaseSpec, command: str, timeout: float) -> tuple[int, str]:
        name = specs.service_name(release.app, f"run-{uuid.uuid4().hex[:8]}")
        deadline = time.monotonic() + timeout
        with self._engine() as api:
            service_id = api.create_service(**specs.create_arguments(
                specs.one_off_spec(release, command, name, self.timing)))["ID"]
            try:
                task = None
                while time.monotonic() < deadline:
                    done = [t for t in api.tasks(filters={"service": service_id})
                            if t["Status"]["State"] in ("complete", "failed", "rejected", "shutdown")]
                    if done:
                        task = done[0]
                        break
                    time.sleep(POLL)
                if task is None:
                    output = _text(api.service_logs(service_id, stdout=True, stderr=True))
                    note = f"\n[app-layer] the command did not finish within {timeout:g}s and was killed\n"
                    return 124, output + note
                if task["Status"]["State"] == "rejected":
                    return 125, f"[app-layer] the swarm could not start the command: {_task_error(task)}\n"
                code = ((task["Status"].get("ContainerStatus") or {}).get("ExitCode"))
                return int(code or 0), _text(api.service_logs(service_id, stdout=True, stderr=True))
            finally:
                _quietly(lambda: api.remove_service(service_id))

    def logs(self, app: str, lines: int) -> list[LogLine]:
        if lines <= 0:
            return []
        with self._engine() as api:
            merged: list[LogLine] = []
            for service in self._services(api, app):
                merged.extend(self._service_lines(api, service, tail=lines))
        return sorted(merged, key=lambda line: line.time)[-lines:]

    def _service_lines(self, api: docker.APIClient, service: dict[str, Any], **kw: Any) -> list[LogLine]:
        ptype = service["Spec"]["Labels"].get(specs.LABEL_TYPE, "")
        slots = {t["ID"]: t.get("Slot") for t in api.tasks(filters={"service": service["ID"]})}
        try:
            raw = api.service_logs(service["ID"], stdout=True, stderr=True, timestamps=True, details=True, **kw)
        except NotFound:
            return []
        return [line for text in _text(raw).splitlines() if (line := _log_line(text, ptype, slots))]

    def follow(self, app: str, poll: float = 0.5) -> Iterator[LogLine]:
        """New output of the app's services (including ones created later), polled every ``poll`` seconds."""
        since = time.time()
        while True:
            with self._engine() as api:
                fresh: list[LogLine] = []
                for service in self._services(api, app):
                    fresh.extend(line for line in self._service_lines(api, service, since=int(since))
                                 if line.time > since)
            fresh.sort(key=lambda line: line.time)
            if fresh:
                since = fresh[-1].time
            yield from fresh
            time.sleep(poll)


# -- pure helpers ----------------------------------------------------------------------------------

def node_address(node: dict[str, Any]) -> str:
    """Where a node's published ports answer: its advertised address (a manager may report 0.0.0.0)."""
    addr = (node.get("Status") or {}).get("Addr", "")
    if addr and addr != "0.0.0.0":
        return addr
    manager = (node.get("ManagerStatus") or {}).get("Addr", "")
    return manager.rsplit(":", 1)[0] if manager else ""


def _version(task: dict[str, Any]) -> int | None:
    labels = ((task.get("Spec") or {}).get("ContainerSpec") or {}).get("Labels") or {}
    value = labels.get(specs.LABEL_RELEASE, "")
    return int(value) if value.isdigit() else None


def _published_port(task: dict[str, Any], target: int | None) -> int | None:
    for port in ((task.get("Status") or {}).get("PortStatus") or {}).get("Ports") or []:
        if port.get("PublishMode") == "host" and (target is None or port.get("TargetPort") == target):
            return port.get("PublishedPort")
    return None


def _process(task: dict[str, Any], service: dict[str, Any], nodes: dict[str, dict[str, Any]]) -> Process | None:
    """One task as a Process; None for tasks that no longer count (ended history, or on a lost node)."""
    labels = service["Spec"]["Labels"]
    version = _version(task)
    node = nodes.get(task.get("NodeID", ""))
    observed, desired = task["Status"]["State"], task.get("DesiredState", "")
    if version is None or node is None or (node.get("Status") or {}).get("State") != "ready":
        return None
    if desired in ("shutdown", "remove") and observed not in ("running", "starting"):
        return None
    if desired == "complete" and observed == "complete" and labels.get(specs.LABEL_TYPE) != "run":
        return None
    state = _TASK_STATES.get(observed, S.UNKNOWN)
    ptype = labels.get(specs.LABEL_TYPE, "")
    draining = desired not in ("running", "ready", "accepted", "complete")
    if draining and state is S.UP:
        state, healthy = S.DOWN, False
    elif state is S.UP:
        healthy = True if ptype in ROUTABLE_TYPES else None
    else:
        healthy = False if state in (S.CRASHED, S.ERROR) else None
    port_label = labels.get(specs.LABEL_PORT, "")
    port = _published_port(task, int(port_label) if port_label.isdigit() else None)
    return Process(labels.get(specs.LABEL_APP, ""), version, ptype, int(task.get("Slot") or 0), state, healthy,
                   node_address(node) if port else "", port, task["ID"])


def _task_error(task: dict[str, Any]) -> str:
    status = task.get("Status") or {}
    return status.get("Err") or status.get("Message") or status.get("State", "")


def check_text(release: ReleaseSpec, ptype: str) -> str:
    """How a process type's health is checked, in words."""
    if ptype not in ROUTABLE_TYPES:
        return ""
    path = health.check_path(release.healthcheck.url)
    port = specs.port_of(release)
    return f"HTTP GET {path} on port {port}" if path else f"TCP connect to port {port}"


def _rollback_reason(status: dict[str, Any], tasks: list[dict[str, Any]], version: int, check: str) -> str:
    """The swarm's words for a rolled back update, with the error of the task that failed."""
    failed = [t for t in tasks if _version(t) == version and t["Status"]["State"] in FAILED_TASK_STATES]
    failed.sort(key=lambda t: t.get("UpdatedAt", ""))
    error = _task_error(failed[-1]) if failed else status.get("Message", "")
    reason = "the swarm rolled the update back"
    if "unhealthy" in error and check:
        reason += f": a new task did not pass the health check ({check})"
    return reason + (f"; {error}" if error else "")


def _log_line(text: str, ptype: str, slots: dict[str, Any]) -> LogLine | None:
    """``<time> com.docker.swarm.node.id=..,com.docker.swarm.service.id=..,com.docker.swarm.task.id=.. <message>``."""
    stamp, _, rest = text.partition(" ")
    details, _, message = rest.partition(" ")
    source = ptype
    if "com.docker.swarm" in details:
        attrs = dict(pair.split("=", 1) for pair in details.split(",") if "=" in pair)
        slot = slots.get(attrs.get("com.docker.swarm.task.id", ""))
        source = f"{ptype}.{slot}" if slot else ptype
    else:
        message = rest
    return parse_docker_line(f"{stamp} {message}", source)


def _text(data: Any) -> str:
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return b"".join(data).decode("utf-8", "replace")


def _quietly(fn: Any) -> Any:
    """Best effort clean-up calls: a missing service is not an error here."""
    try:
        return fn()
    except APIError:
        return None
