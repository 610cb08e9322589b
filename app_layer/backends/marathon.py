"""The Marathon backend: each process type of a release is a Marathon app ``/<app>/<type>``.

``APP_LAYER_SCHEDULER=marathon`` with ``MARATHON_URL`` (several, comma separated: a request goes to
the next one when one does not answer). What the apps look like is decided in ``marathon_app`` (pure);
the connection and its client workarounds live in ``marathon_api``; this module acts and observes:

* ``deploy`` PUTs one app per process type (a changed definition is a rolling restart that Marathon
  gates on health, with ``upgradeStrategy`` keeping full capacity; an unchanged one with another count
  is a change of ``instances`` only), then follows the deployments through ``/v2/events`` (a signal to
  re-read ``/v2/deployments`` and the apps; a slow poll covers lost events) until Marathon removes them.
  Marathon has no deadline of its own: when ours passes, every deployment of the release is reverted
  (``DELETE /v2/deployments/<id>``, Marathon's rollback; apps created by it are deleted; finished ones
  are rolled back to their previous version), and ``RolloutFailed`` says why. Old tasks of a type
  whose new tasks never became healthy were never killed; a type that had finished (a worker, which
  has no health check) is rolled back to its previous definition, with new tasks.
* An app locked by another deployment (409) is waited for, then the change is forced (``force=true``
  cancels the other deployment): the controller owns these apps, so a lock it does not hold is a
  deployment left behind.
* ``processes`` maps tasks to ``Process`` values: host and host port, health from
  ``healthCheckResults`` (a task of an app with checks is healthy only once a check passed), and
  ``TASK_KILLING`` as down and unhealthy, so the publisher drops a task before it stops.
* ``restart``: a rolling restart of a type (``POST /v2/apps/<id>/restart``), or one task killed for
  Marathon to replace. No ``run``: Marathon runs long-lived apps (it would restart a finished one-off
  command; that is Metronome's job), and no ``logs``: task output stays in the Mesos sandboxes.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

from marathon.exceptions import ConflictError, MarathonHttpError

from app_layer.backends import marathon_app as spec
from app_layer.backends.base import ROUTABLE_TYPES, Backend, Capability, Process, ReleaseSpec
from app_layer.backends.base import State as S
from app_layer.backends.marathon_api import EventWatcher, MarathonApi
from app_layer.errors import NotSupported, RolloutFailed
from app_layer.settings import Settings

log = logging.getLogger(__name__)

_STATES = {"TASK_STAGING": S.INITIALIZED, "TASK_STARTING": S.STARTING, "TASK_RUNNING": S.UP,
           "TASK_KILLING": S.DOWN, "TASK_FINISHED": S.DOWN, "TASK_KILLED": S.DESTROYED, "TASK_FAILED": S.CRASHED,
           "TASK_ERROR": S.ERROR, "TASK_DROPPED": S.ERROR, "TASK_LOST": S.UNKNOWN, "TASK_UNREACHABLE": S.UNKNOWN,
           "TASK_UNKNOWN": S.UNKNOWN, "TASK_GONE": S.DESTROYED, "TASK_GONE_BY_OPERATOR": S.DESTROYED}


def from_settings(settings: Settings) -> MarathonBackend:
    return MarathonBackend(settings.marathon_url, spec.Timing(kill_grace=max(0, math.ceil(settings.stop_grace))))


@dataclass
class _Step:
    """One app a deploy changes, and how to undo it."""

    kind: str                  # "create", "update", "scale", or "wait" (unchanged, tasks missing)
    ptype: str
    app_id: str
    deployment: str
    previous: str | None       # the app's version before (None: created by this deploy)
    done: bool = False
    failure: str = ""


class MarathonBackend(Backend):
    name = "marathon"
    capabilities = frozenset({Capability.HEALTH_CHECKS, Capability.ROLLING_DEPLOY, Capability.RESTART})

    def __init__(self, urls: tuple[str, ...] | list[str] | str, timing: spec.Timing = spec.Timing(), *,
                 poll: float = 2.0, lock_wait: float = 30.0, api_timeout: float = 10.0, cleanup_wait: float = 30.0):
        self.api = MarathonApi([urls] if isinstance(urls, str) else list(urls), timeout=api_timeout)
        self.timing = timing
        self.poll = poll                  # re-read state this often even without events
        self.lock_wait = lock_wait        # how long a 409 is waited out before the change is forced
        self.cleanup_wait = cleanup_wait  # how long a rollback or a delete is followed
        self._watcher: EventWatcher | None = None
        self._lock = threading.Lock()
        self._releases: dict[tuple[str, str], int] = {}   # (app id, version) -> release

    @property
    def watcher(self) -> EventWatcher:
        with self._lock:
            if self._watcher is None:   # started on first use: constructing must not contact Marathon
                self._watcher = EventWatcher(self.api)
            return self._watcher

    def subscribe(self, wake: threading.Event) -> None:
        """Set ``wake`` whenever Marathon reports a change (a task's status or health, a deployment's
        end), so a loop such as the publisher's can re-read ``processes`` at once instead of at its
        next poll. Starts the event stream."""
        self.watcher.subscribe(wake)

    def close(self) -> None:
        with self._lock:
            if self._watcher is not None:
                self._watcher.close()
            self._watcher = None
        self.api.close()

    # -- observing -------------------------------------------------------------------------------

    def _apps(self, app: str | None) -> list[dict[str, Any]]:
        return self.api.apps(spec.LABEL_APP if app is None else f"{spec.LABEL_APP}=={app}")

    def processes(self, app: str | None = None) -> list[Process]:
        procs: list[Process] = []
        for marathon_app in self._apps(app):
            procs.extend(self._processes_of(marathon_app))
        return sorted(procs, key=lambda p: (p.app, p.type, p.version, p.num))

    def _processes_of(self, marathon_app: dict[str, Any]) -> list[Process]:
        labels = marathon_app.get("labels") or {}
        name, ptype = labels.get(spec.LABEL_APP), labels.get(spec.LABEL_TYPE)
        if not name or not ptype:
            return []
        checks = bool(marathon_app.get("healthChecks"))
        tasks = sorted(marathon_app.get("tasks") or [], key=lambda t: (t.get("stagedAt") or "", t["id"]))
        numbers: dict[int, int] = {}
        out = []
        for task in tasks:
            release = self._release_of(marathon_app, task.get("version", ""))
            numbers[release] = numbers.get(release, 0) + 1
            out.append(_process(task, name, ptype, release, numbers[release], checks))
        return out

    def _release_of(self, marathon_app: dict[str, Any], version: str) -> int:
        """The release a task runs. A task launched at or after the app's last config change runs the
        current definition (scales change the version, not the config); an older one runs the version it
        was launched with, whose labels say (versions never change, so the answer is kept). 0: a version
        Marathon no longer keeps (it prunes old ones), so an older release we cannot name."""
        changed = (marathon_app.get("versionInfo") or {}).get("lastConfigChangeAt") or marathon_app.get("version", "")
        if version >= changed:
            return _int(marathon_app.get("labels", {}).get(spec.LABEL_RELEASE)) or 0
        key = (marathon_app["id"], version)
        if key not in self._releases:
            old = self.api.version(marathon_app["id"], version) or {}
            self._releases[key] = _int((old.get("labels") or {}).get(spec.LABEL_RELEASE)) or 0
        return self._releases[key]

    # -- deploying -------------------------------------------------------------------------------

    def deploy(self, release: ReleaseSpec, formation: dict[str, int], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        watcher = self.watcher
        current = {a["labels"].get(spec.LABEL_TYPE): a for a in self._apps(release.app)}
        steps: list[_Step] = []
        try:
            for ptype, count in sorted(formation.items()):
                if ptype == "run" or (count <= 0 and ptype not in current):
                    continue
                step = self._apply(release, ptype, max(0, count), current.get(ptype), deadline)
                if step is not None:
                    steps.append(step)
        except MarathonHttpError as exc:
            self._undo(steps)
            raise RolloutFailed(f"v{release.version} of {release.app} was refused by Marathon: "
                                f"{_describe_error(exc)}") from None
        failure = self._await(steps, deadline, timeout, watcher)
        if failure:
            self._undo(steps)
            raise RolloutFailed(f"v{release.version} of {release.app}: {failure}; rolled back")
        for ptype, marathon_app in current.items():
            if ptype not in formation and ptype != "run":
                self.api.delete_app(marathon_app["id"])

    def _apply(self, release: ReleaseSpec, ptype: str, count: int, have: dict[str, Any] | None,
               deadline: float) -> _Step | None:
        definition = spec.app_definition(release, ptype, count, self.timing)
        app_id = definition["id"]
        same = have is not None and (have.get("labels") or {}).get(spec.LABEL_SPEC) == \
            definition["labels"][spec.LABEL_SPEC]
        if same and have is not None and have.get("instances") == count:
            if _complete(self._processes_of(have), release.version, count):
                return None
            # unchanged, but short of healthy tasks (Marathon is replacing a lost one): wait for them
            return _Step("wait", ptype, app_id, "", have.get("version"))
        if same:   # a scale: instances only, so no task is replaced
            kind, body, partial = "scale", {"instances": count}, True
        else:
            kind, body, partial = ("create" if have is None else "update"), definition, False
        deployment = self._put(app_id, body, partial, deadline)
        return _Step(kind, ptype, app_id, deployment, have.get("version") if have else None)

    def _put(self, app_id: str, body: dict[str, Any], partial: bool, deadline: float) -> str:
        """PUT the app; a 409 (locked by another deployment) is waited out, then forced."""
        force = False
        give_up = time.monotonic() + min(self.lock_wait, max(0.0, deadline - time.monotonic()) / 2)
        while True:
            generation = self.watcher.generation
            try:
                return self.api.put_app(app_id, body, force=force, partial=partial)
            except ConflictError as exc:
                if force:      # Marathon refused even a forced change: nothing more to try
                    raise
                if time.monotonic() >= give_up:
                    log.warning("%s is still locked (%s); forcing the change", app_id, exc.error_message)
                    force = True
                    continue
                log.info("%s is locked by a deployment; waiting", app_id)
                self.watcher.wait(generation, min(self.poll, give_up - time.monotonic()))

    def _await(self, steps: list[_Step], deadline: float, timeout: float, watcher: EventWatcher) -> str:
        """Follow the deployments until Marathon has finished them all; '' or why not."""
        while True:
            generation = watcher.generation
            pending = [s for s in steps if not s.done and not s.failure]
            if pending:
                running = self.api.deployments()
                for step in pending:
                    reason = watcher.finished.get(step.deployment)
                    if step.kind == "wait":
                        have = self.api.app(step.app_id) or {}
                        step.done = _complete(self._processes_of(have), _int(
                            (have.get("labels") or {}).get(spec.LABEL_RELEASE)), have.get("instances", 0))
                    elif reason:
                        step.failure = f"{step.ptype}: Marathon cancelled the deployment ({reason})"
                    elif step.deployment not in running:
                        step.done = True
            failed = [s for s in steps if s.failure]
            if failed:
                return "; ".join(s.failure for s in failed)
            if all(s.done for s in steps):
                return ""
            if time.monotonic() >= deadline:
                return "; ".join(self._why(s, timeout) for s in steps if not s.done)
            watcher.wait(generation, min(self.poll, deadline - time.monotonic()))

    def _why(self, step: _Step, timeout: float) -> str:
        """What Marathon shows about a deployment that did not finish in time."""
        marathon_app = self.api.app(step.app_id) or {}
        checks = marathon_app.get("healthChecks") or []
        new = [t for t in marathon_app.get("tasks") or [] if t.get("version") == marathon_app.get("version")]
        running = [t for t in new if t.get("state") == "TASK_RUNNING"]
        healthy = [t for t in running if not checks or _process(t, "", step.ptype, 0, 0, True).healthy]
        text = (f"{step.ptype} did not become healthy within {timeout:g}s ({marathon_app.get('instances', 0)} "
                f"wanted, {len(running)} running, {len(healthy)} healthy)")
        if checks and step.ptype in ROUTABLE_TYPES:
            text += f"; health check: {_check_text(checks[0], marathon_app)}"
        causes = [r["lastFailureCause"] for t in new for r in t.get("healthCheckResults") or []
                  if r.get("lastFailureCause")]
        if causes:
            text += f", last failure: {causes[-1]}"
        failure = marathon_app.get("lastTaskFailure") or {}
        if failure.get("version") == marathon_app.get("version") and failure.get("message"):
            text += f"; a task ended: {failure.get('state', '')} {failure['message']}"
        return text

    def _undo(self, steps: list[_Step]) -> None:
        """Put every app this deploy touched back as it was, and wait (briefly) until Marathon has."""
        running = self.api.deployments()
        follow = []
        for step in steps:
            try:
                if step.kind == "wait":
                    continue
                if step.kind == "create":
                    follow.append(self.api.delete_app(step.app_id))
                elif step.deployment in running:
                    follow.append(self.api.revert(step.deployment))
                elif step.previous:
                    follow.append(self.api.rollback_app(step.app_id, step.previous))
            except MarathonHttpError as exc:
                log.warning("rolling back %s failed: %s", step.app_id, _describe_error(exc))
        self._follow([d for d in follow if d])

    def _follow(self, deployments: list[str]) -> None:
        until = time.monotonic() + self.cleanup_wait
        while deployments and time.monotonic() < until:
            generation = self.watcher.generation
            running = self.api.deployments()
            deployments = [d for d in deployments if d in running]
            if deployments:
                self.watcher.wait(generation, min(self.poll, until - time.monotonic()))

    def destroy(self, app: str) -> None:
        deployment = self.api.delete_group(spec.group_id(app))
        for marathon_app in self._apps(app):   # apps of the app outside its group, should there be any
            self.api.delete_app(marathon_app["id"])
        if deployment:
            self._follow([deployment])

    # -- restart ---------------------------------------------------------------------------------

    def restart(self, app: str, process_type: str | None = None, num: int | None = None) -> list[Process]:
        """A rolling restart (Marathon starts new tasks first) of the matching types; with ``num``, that
        one task is killed and Marathon starts its replacement."""
        deployments = []
        for marathon_app in self._apps(app):
            ptype = (marathon_app.get("labels") or {}).get(spec.LABEL_TYPE)
            if process_type not in (None, ptype):
                continue
            if num is None:
                deployments.append(self.api.restart_app(marathon_app["id"]))
                continue
            for proc in self._processes_of(marathon_app):
                if proc.num == num and proc.state is S.UP:
                    self.api.kill_task(marathon_app["id"], proc.backend_id)
        self._follow(deployments)
        return [p for p in self.processes(app) if process_type in (None, p.type) and num in (None, p.num)]

    def run(self, release: ReleaseSpec, command: str, timeout: float) -> tuple[int, str]:
        raise NotSupported("The marathon scheduler cannot run one-off commands: Marathon restarts a finished task.")


def _process(task: dict[str, Any], app: str, ptype: str, release: int, num: int, checks: bool) -> Process:
    state = _STATES.get(task.get("state", ""), S.UNKNOWN)
    if state is not S.UP:
        healthy: bool | None = False if state in (S.DOWN, S.CRASHED, S.ERROR) else None
    elif checks:
        results = task.get("healthCheckResults") or []
        healthy = bool(results) and all(r.get("alive") for r in results)   # no result yet: not healthy yet
    else:
        healthy = None
    ports = task.get("ports") or []
    port = ports[0] if ports and ptype in ROUTABLE_TYPES else None
    return Process(app, release, ptype, num, state, healthy, task.get("host", "") if port else "", port, task["id"])


def _complete(procs: list[Process], release: int | None, instances: int) -> bool:
    """Exactly ``instances`` processes, all of ``release``, up and healthy (or without a check)."""
    return len(procs) == instances and all(p.version == release and p.state is S.UP and p.healthy is not False
                                           for p in procs)


def _check_text(check: dict[str, Any], marathon_app: dict[str, Any]) -> str:
    mappings = (marathon_app.get("container") or {}).get("portMappings") or []
    port = mappings[0].get("containerPort") if mappings else "?"
    if check.get("protocol") in ("HTTP", "HTTPS", "MESOS_HTTP", "MESOS_HTTPS"):
        return f"HTTP GET {check.get('path', '/')} on port {port}"
    return f"TCP connect to port {port}"


def _describe_error(exc: MarathonHttpError) -> str:
    details = getattr(exc, "error_details", None) or []
    text = exc.error_message
    if details:
        text += " (" + "; ".join(f"{d.get('path')}: {', '.join(d.get('errors', []))}" for d in details) + ")"
    return text


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
