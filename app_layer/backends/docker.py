"""The Docker backend: every process is a container on one local Docker Engine (the default scheduler).

* Names and labels follow Deis: ``<app>_v<N>.<type>.<num>``, labelled ``app-layer.app``,
  ``app-layer.release``, ``app-layer.type``, ``app-layer.num`` (plus the process's ``PORT`` and
  health check, so any controller process can check health without the database).
* ``PORT`` (the release's, else the image's lowest EXPOSEd port, else 5000) is published on
  127.0.0.1 at an ephemeral port. ``Process.host``/``port``, where the router sends requests, is the
  container's own address on the bridge (docker's userland proxy behind a published port halves
  throughput); the published port is the fallback for a container without an address.
* Rollouts: start the new containers, wait until each answers its health check, mark the old
  ones draining (renamed ``<name>.draining``: unhealthy for the router) for ``drain`` seconds,
  then SIGTERM them with ``stop_grace`` seconds before SIGKILL. A failed rollout removes only
  what it started. Everything the engine needs to resume lives in labels and names, so a
  controller killed mid-rollout, or a dockerd restart (restart policy ``unless-stopped``), loses
  nothing.
* Output outlives containers: a container's log is archived (``docker_logs.LogArchive``) before
  it is removed. Images that belong to the app (repository named after it) are removed once
  ``keep_releases`` newer releases have been deployed.

The engine is contacted lazily; when it cannot be reached every verb raises ``Unavailable``.
"""
from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import docker
import requests
from docker.errors import APIError, DockerException, NotFound
from docker.types import LogConfig

from app_layer.backends import health
from app_layer.backends.base import ROUTABLE_TYPES, Backend, Capability, HealthCheck, LogLine, Process, ReleaseSpec
from app_layer.backends.base import State as S
from app_layer.backends.docker_logs import LogArchive, parse_docker_output
from app_layer.backends.plan import Observed, plan
from app_layer.errors import RolloutFailed, Unavailable
from app_layer.settings import Settings

LABEL_APP, LABEL_RELEASE = "app-layer.app", "app-layer.release"
LABEL_TYPE, LABEL_NUM = "app-layer.type", "app-layer.num"
LABEL_PORT, LABEL_CHECK = "app-layer.port", "app-layer.healthcheck"
DRAINING = ".draining"
DEFAULT_PORT = 5000
DEFAULT_SOCKET = "unix:///var/run/docker.sock"
T = TypeVar("T")


def from_settings(settings: Settings) -> DockerBackend:
    return DockerBackend(settings.docker_host or DEFAULT_SOCKET, settings.data_dir / "docker",
                         keep_releases=settings.keep_releases, stop_grace=settings.stop_grace,
                         drain=settings.drain_seconds)


@dataclass(frozen=True)
class Seen:
    """One container of the app, from a single ``docker ps`` listing."""

    id: str
    name: str
    app: str
    version: int
    type: str
    num: int
    status: str          # docker's: created, running, restarting, exited, paused, dead, removing
    exit_code: int | None
    ip: str
    port: int | None     # PORT inside the container
    host_port: int | None
    check: HealthCheck

    @property
    def draining(self) -> bool:
        return self.name.endswith(DRAINING)

    @property
    def source(self) -> str:
        return f"{self.type}.{self.num}"

    def observed(self) -> Observed:
        return Observed(self.id, self.version, self.type, self.num, self.status == "running", self.draining)


class DockerBackend(Backend):
    name = "docker"
    capabilities = frozenset({Capability.HEALTH_CHECKS, Capability.ROLLING_DEPLOY, Capability.RUN,
                              Capability.LOGS, Capability.RESTART})

    def __init__(self, base_url: str = DEFAULT_SOCKET, state_dir: Path | None = None, *, keep_releases: int = 5,
                 stop_grace: float = 10.0, drain: float = 0.0, api_timeout: float = 60.0):
        self.base_url = base_url
        self.state_dir = state_dir or Path.home() / ".local" / "share" / "app-layer" / "docker"
        self.archive = LogArchive(self.state_dir / "logs")
        self.keep_releases = keep_releases
        self.stop_grace = stop_grace
        self.drain = drain
        self.api_timeout = api_timeout
        self._client: docker.APIClient | None = None
        self._client_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="docker-backend")

    # -- the engine connection -------------------------------------------------------------------

    def _api(self) -> docker.APIClient:
        with self._client_lock:
            if self._client is None:
                try:
                    self._client = docker.APIClient(base_url=self.base_url, version="auto", max_pool_size=32,
                                                    timeout=self.api_timeout + self.stop_grace)
                except DockerException:
                    raise Unavailable(self._down()) from None
            return self._client

    def _down(self) -> str:
        return f"The Docker Engine at {self.base_url} cannot be reached; try again when it is back."

    @contextmanager
    def _engine(self) -> Iterator[docker.APIClient]:
        """The API client; connection failures and engine errors become ``Unavailable``."""
        try:
            yield self._api()
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout):
            raise Unavailable(self._down()) from None
        except APIError as exc:
            if exc.status_code is not None and exc.status_code >= 500:
                raise Unavailable(f"The Docker Engine failed: {exc.explanation}") from None
            raise

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _parallel(self, fn: Callable[[Any], T], items: list[Any]) -> list[T]:
        if len(items) <= 1:
            return [fn(item) for item in items]
        return list(self._pool.map(fn, items))

    # -- observing -------------------------------------------------------------------------------

    def _list(self, api: docker.APIClient, app: str | None) -> list[Seen]:
        label = f"{LABEL_APP}={app}" if app is not None else LABEL_APP
        return [seen for raw in api.containers(all=True, filters={"label": label})
                if (seen := _seen(raw)) is not None]

    def processes(self, app: str | None = None) -> list[Process]:
        with self._engine() as api:
            seen = self._list(api, app)
        return self._parallel(_process, seen)

    # -- deploying -------------------------------------------------------------------------------

    def deploy(self, release: ReleaseSpec, formation: dict[str, int], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._engine() as api:
            current = {s.id: s for s in self._list(api, release.app)}
            decision = plan([s.observed() for s in current.values()], release.version, formation)
            if not decision.changes:
                return
            self._parallel(lambda s: self._remove(api, s), [current[o.id] for o in decision.clear])
            started: list[str] = []
            if decision.start:
                port = self._prepare_image(api, release)
                started = self._start(api, release, decision.start, port)
            replacing = any(o.version != release.version for o in decision.retire)
            check = started + ([o.id for o in decision.keep] if replacing else [])
            failure = self._await_healthy(api, release.app, check, release.healthcheck, deadline, timeout)
            if failure:
                fresh = {s.id: s for s in self._list(api, release.app)}
                self._parallel(lambda cid: self._stop_and_remove(api, fresh[cid]), [c for c in started if c in fresh])
                raise RolloutFailed(f"v{release.version} of {release.app}: {failure}")
            self._retire(api, [current[o.id] for o in decision.retire])
            if replacing or decision.start:
                self._prune_images(api, release)

    def _prepare_image(self, api: docker.APIClient, release: ReleaseSpec) -> int:
        """Make sure the engine has the image (pulling it if not); returns the process PORT."""
        try:
            info = api.inspect_image(release.image)
        except NotFound:
            try:
                repository, tag = _split_reference(release.image)
                api.pull(repository, tag=tag)
                info = api.inspect_image(release.image)
            except APIError as exc:
                raise RolloutFailed(f"image {release.image} is not on the engine and cannot be pulled: "
                                    f"{exc.explanation}") from None
        if release.port:
            return release.port
        exposed = sorted(int(p.split("/")[0]) for p in ((info.get("Config") or {}).get("ExposedPorts") or {})
                         if p.endswith("/tcp") and p.split("/")[0].isdigit())
        return exposed[0] if exposed else DEFAULT_PORT

    def _start(self, api: docker.APIClient, release: ReleaseSpec, slots: list[tuple[str, int]], port: int) -> list[str]:
        """Create and start one container per slot (in parallel); on any error remove them all."""
        results: list[str | BaseException] = self._parallel(
            lambda slot: _capture(lambda: self._create_and_start(api, release, slot[0], slot[1], port)), slots)
        ids = [r for r in results if isinstance(r, str)]
        errors = [r for r in results if not isinstance(r, str)]
        if errors:
            for cid in ids:
                _quietly(lambda cid=cid: api.remove_container(cid, force=True))
            error = errors[0]
            if isinstance(error, APIError) and (error.status_code or 0) < 500:
                raise RolloutFailed(f"v{release.version} of {release.app} could not start: {error.explanation}")
            if isinstance(error, DockerException) and not isinstance(error, APIError):  # e.g. a bad limit
                raise RolloutFailed(f"v{release.version} of {release.app} could not start: {error}")
            raise error
        return ids

    def _create_and_start(self, api: docker.APIClient, release: ReleaseSpec, ptype: str, num: int,
                          port: int) -> str:
        name = release.name(ptype, num)
        labels = _labels(release, ptype, num)
        labels.update({LABEL_PORT: str(port), LABEL_CHECK: json.dumps(release.healthcheck.__dict__)})
        host_config = api.create_host_config(
            port_bindings={port: ("127.0.0.1",)}, restart_policy={"Name": "unless-stopped"}, init=True,
            mem_limit=release.memory.get(ptype) or None, cpu_shares=release.cpu.get(ptype) or None,
            log_config=LogConfig(type="json-file", config={"max-size": "10m", "max-file": "2"}))
        create = lambda: api.create_container(  # noqa: E731
            release.image, command=process_command(release, ptype), name=name,
            environment={**release.env, "PORT": str(port)}, labels=labels, ports=[port],
            host_config=host_config, detach=True)
        try:
            container = create()
        except APIError as exc:
            if exc.status_code != 409:
                raise
            api.remove_container(name, force=True)  # the name is held by a leftover (a draining one is renamed)
            container = create()
        api.start(container["Id"])
        return container["Id"]

    def _await_healthy(self, api: docker.APIClient, app: str, ids: list[str], check: HealthCheck,
                       deadline: float, timeout: float) -> str:
        """Wait until every container in ``ids`` is running and answers its check; '' or the reason why not."""
        pending = set(ids)
        first_probe = time.monotonic() + check.initial_delay
        attempt = 0
        while pending:
            seen = {s.id: s for s in self._list(api, app) if s.id in pending}
            for cid in pending:
                if cid not in seen or seen[cid].status not in ("running", "created"):
                    return self._crash_reason(api, seen.get(cid))
            probed = [s for s in seen.values() if s.type not in ROUTABLE_TYPES or time.monotonic() >= first_probe]
            healthy = self._parallel(_healthy_now, probed)
            pending -= {s.id for s, ok in zip(probed, healthy, strict=True) if ok}
            if not pending:
                return ""
            if time.monotonic() >= deadline:
                names = ", ".join(sorted(seen[c].source for c in pending))
                return f"{names} did not pass the health check ({_describe(check, seen)}) within {timeout:g}s"
            attempt += 1
            time.sleep(min(check.interval, 0.02 * 2 ** min(attempt, 2)))
        return ""

    def _crash_reason(self, api: docker.APIClient, seen: Seen | None) -> str:
        if seen is None:
            return "a new process disappeared before it became healthy"
        tail = _quietly(lambda: parse_docker_output(api.logs(seen.id, timestamps=True, tail=3), seen.source))
        said = " | ".join(line.message for line in tail or [])
        code = f" with status {seen.exit_code}" if seen.exit_code is not None else ""
        return f"{seen.source} exited{code} before it became healthy" + (f"; last output: {said}" if said else "")

    def _retire(self, api: docker.APIClient, retired: list[Seen]) -> None:
        """Mark running processes draining (the router drops them), wait ``drain``, then stop them."""
        if not retired:
            return
        for seen in retired:
            if not seen.draining:
                _quietly(lambda s=seen: api.rename(s.id, s.name + DRAINING))
        if self.drain and any(s.type in ROUTABLE_TYPES and not s.draining for s in retired):
            time.sleep(self.drain)
        self._parallel(lambda s: self._stop_and_remove(api, s), retired)

    def _stop_and_remove(self, api: docker.APIClient, seen: Seen) -> None:
        _quietly(lambda: api.stop(seen.id, timeout=math.ceil(self.stop_grace)))
        self._remove(api, seen)

    def _remove(self, api: docker.APIClient, seen: Seen) -> None:
        """Archive the container's output, then remove it."""
        output = _quietly(lambda: api.logs(seen.id, timestamps=True))
        if output:
            self.archive.append(seen.app, parse_docker_output(output, seen.source))
        _quietly(lambda: api.remove_container(seen.id, force=True))

    # -- clean-up --------------------------------------------------------------------------------

    def _prune_images(self, api: docker.APIClient, release: ReleaseSpec) -> None:
        """Remember which image each deployed release used; remove the app's images no kept release uses."""
        path = self.state_dir / "images" / f"{release.app}.json"
        history = _read_json(path)
        history[str(release.version)] = release.image
        versions = sorted(history, key=int, reverse=True)
        kept = {history[v] for v in versions[:self.keep_releases]}
        for version in versions[self.keep_releases:]:
            image = history.pop(version)
            if image not in kept and owned_by(image, release.app):
                _quietly(lambda image=image: api.remove_image(image))
        _write_json(path, history)

    def destroy(self, app: str) -> None:
        with self._engine() as api:
            raw = api.containers(all=True, filters={"label": f"{LABEL_APP}={app}"})
            self._parallel(lambda c: _quietly(lambda: api.remove_container(c["Id"], force=True)), raw)
            path = self.state_dir / "images" / f"{app}.json"
            for image in set(_read_json(path).values()) | {c.get("Image", "") for c in raw}:
                if owned_by(image, app):
                    _quietly(lambda image=image: api.remove_image(image, force=True))
            path.unlink(missing_ok=True)
        self.archive.remove(app)

    # -- restart, run, logs ----------------------------------------------------------------------

    def restart(self, app: str, process_type: str | None = None, num: int | None = None) -> list[Process]:
        with self._engine() as api:
            matched = [s for s in self._list(api, app) if not s.draining and s.type != "run"
                       and process_type in (None, s.type) and num in (None, s.num)]
            self._parallel(lambda s: api.restart(s.id, timeout=math.ceil(self.stop_grace)), matched)
            ids = {s.id for s in matched}
            return self._parallel(_process, [s for s in self._list(api, app) if s.id in ids])

    def run(self, release: ReleaseSpec, command: str, timeout: float) -> tuple[int, str]:
        with self._engine() as api:
            self._prepare_image(api, release)
            cid = self._create_one_off(api, release, command)
            try:
                api.start(cid)
                try:
                    rc = int(api.wait(cid, timeout=timeout)["StatusCode"])
                    note = ""
                except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                    api.kill(cid)
                    rc, note = 124, f"\n[app-layer] the command did not finish within {timeout:g}s and was killed\n"
                output = api.logs(cid, stdout=True, stderr=True).decode("utf-8", "replace") + note
            finally:
                seen = next((s for s in self._list(api, release.app) if s.id == cid), None)
                if seen is not None:
                    self._remove(api, seen)
            return rc, output

    def _create_one_off(self, api: docker.APIClient, release: ReleaseSpec, command: str) -> str:
        taken = {s.num for s in self._list(api, release.app) if s.type == "run"}
        for num in range(max(taken, default=0) + 1, max(taken, default=0) + 20):
            labels = _labels(release, "run", num)
            host_config = api.create_host_config(init=True, log_config=LogConfig(type="json-file"))
            cmd = ["sh", "-c", command] if release.dockerfile else [command]
            try:
                return api.create_container(release.image, command=cmd, name=release.name("run", num),
                                            environment=dict(release.env), labels=labels,
                                            host_config=host_config)["Id"]
            except APIError as exc:
                if exc.status_code != 409:  # another one-off took the name: try the next number
                    raise
        raise Unavailable("Too many one-off processes are starting at once; try again.")

    def logs(self, app: str, lines: int) -> list[LogLine]:
        if lines <= 0:
            return []
        archived = self.archive.tail(app, lines)
        try:
            with self._engine() as api:
                live = self._parallel(
                    lambda s: parse_docker_output(api.logs(s.id, timestamps=True, tail=lines), s.source),
                    self._list(api, app))
        except Unavailable as exc:
            return archived + [LogLine(time.time(), "app-layer", f"output of running processes unavailable: "
                                                                 f"{exc.detail}")]
        merged = set(archived)
        for chunk in live:
            merged.update(chunk)
        return sorted(merged, key=lambda line: line.time)[-lines:]

    def follow(self, app: str, poll: float = 0.5) -> Iterator[LogLine]:
        """New output of the app's containers (including ones started later), polled every ``poll`` seconds."""
        since: dict[str, float] = {}
        start = time.time()
        while True:
            with self._engine() as api:
                for seen in self._list(api, app):
                    last = since.get(seen.id, start)
                    fresh = [line for line in parse_docker_output(
                        _quietly(lambda s=seen, t=last: api.logs(s.id, timestamps=True, since=t)) or b"", seen.source)
                        if line.time > last]
                    if fresh:
                        since[seen.id] = fresh[-1].time
                    yield from fresh
            time.sleep(poll)


# -- pure helpers ----------------------------------------------------------------------------------

def process_command(release: ReleaseSpec, ptype: str) -> list[str] | None:
    """Deis's rule: Dockerfile and image builds run the Procfile command under ``sh -c`` (none: the
    image's CMD); buildpack images get ``start <type>`` for their entrypoint (``cmd`` without a
    Procfile entry: the image's CMD)."""
    command = release.command(ptype)
    if release.dockerfile:
        return ["sh", "-c", command] if command else None
    if ptype == "cmd" and not command:
        return None
    return ["start", ptype]


def owned_by(image: str, app: str) -> bool:
    """Images the platform may delete: their repository's last path component is the app's name."""
    repository, _ = _split_reference(image)
    return repository.rsplit("/", 1)[-1] == app


def _split_reference(image: str) -> tuple[str, str | None]:
    name = image.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1:]
    return name, None


def _labels(release: ReleaseSpec, ptype: str, num: int) -> dict[str, str]:
    return {LABEL_APP: release.app, LABEL_RELEASE: str(release.version), LABEL_TYPE: ptype, LABEL_NUM: str(num)}


def _seen(raw: dict[str, Any]) -> Seen | None:
    labels = raw.get("Labels") or {}
    try:
        version, num = int(labels[LABEL_RELEASE]), int(labels[LABEL_NUM])
        app, ptype = labels[LABEL_APP], labels[LABEL_TYPE]
    except (KeyError, ValueError):
        return None
    port = int(labels[LABEL_PORT]) if labels.get(LABEL_PORT, "").isdigit() else None
    host_port = next((p.get("PublicPort") for p in raw.get("Ports") or []
                      if p.get("PrivatePort") == port and p.get("Type") == "tcp" and p.get("PublicPort")
                      and p.get("IP") in ("127.0.0.1", "0.0.0.0", None)), None)
    networks = (raw.get("NetworkSettings") or {}).get("Networks") or {}
    ip = next((n.get("IPAddress") for n in networks.values() if n.get("IPAddress")), "")
    return Seen(id=raw["Id"], name=(raw.get("Names") or ["/"])[0].lstrip("/"), app=app, version=version,
                type=ptype, num=num, status=raw.get("State", ""), exit_code=_exit_code(raw.get("Status", "")),
                ip=ip, port=port, host_port=host_port, check=_check(labels.get(LABEL_CHECK, "")))


def _exit_code(status: str) -> int | None:
    """From ``Exited (3) 2 seconds ago`` or ``Restarting (3) 1 second ago``."""
    for prefix in ("Exited (", "Restarting ("):
        if status.startswith(prefix) and ")" in status:
            code = status[len(prefix):status.index(")")]
            return int(code) if code.lstrip("-").isdigit() else None
    return None


def _check(raw: str) -> HealthCheck:
    try:
        data = json.loads(raw) if raw else {}
        return HealthCheck(**{k: v for k, v in data.items() if k in HealthCheck.__dataclass_fields__})
    except (ValueError, TypeError):
        return HealthCheck()


def _state(seen: Seen) -> S:
    if seen.status == "running":
        return S.DOWN if seen.draining else S.UP
    if seen.status == "exited":
        return S.DOWN if seen.exit_code in (0, 143) else S.CRASHED  # 143: ended by SIGTERM (a stop)
    return {"created": S.CREATED, "restarting": S.CRASHED, "paused": S.DOWN, "removing": S.DESTROYED,
            "dead": S.ERROR}.get(seen.status, S.UNKNOWN)


def _healthy_now(seen: Seen) -> bool:
    """Running, and (for routable types) answering its check on the container's own address."""
    if seen.status != "running":
        return False
    if seen.type not in ROUTABLE_TYPES or seen.port is None:
        return True
    if seen.ip:
        return health.probe(seen.ip, seen.port, seen.check)
    return seen.host_port is not None and health.probe("127.0.0.1", seen.host_port, seen.check)


def _process(seen: Seen) -> Process:
    state = _state(seen)
    if state is not S.UP:
        healthy: bool | None = False if seen.draining or state in (S.CRASHED, S.ERROR) else None
    elif seen.type in ROUTABLE_TYPES:
        healthy = _healthy_now(seen)
    else:
        healthy = None
    host, port = _address(seen)
    return Process(seen.app, seen.version, seen.type, seen.num, state, healthy, host, port, seen.id)


def _address(seen: Seen) -> tuple[str, int | None]:
    """Where the router reaches the process: the container's own address on its network (no
    userland proxy in the way), else the port published on 127.0.0.1."""
    if seen.ip and seen.port:
        return seen.ip, seen.port
    return ("127.0.0.1", seen.host_port) if seen.host_port else ("", None)


def _describe(check: HealthCheck, seen: dict[str, Seen]) -> str:
    port = next((s.port for s in seen.values() if s.port), DEFAULT_PORT)
    path = health.check_path(check.url)
    return f"HTTP GET {path} on port {port}" if path else f"TCP connect to port {port}"


def _capture(fn: Callable[[], T]) -> T | BaseException:
    try:
        return fn()
    except Exception as exc:  # handed back to the caller, which re-raises the first one
        return exc


def _quietly(fn: Callable[[], T]) -> T | None:
    """Best effort engine calls (clean-up): a missing container or a conflict is not an error here."""
    try:
        return fn()
    except APIError:
        return None


def _read_json(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (FileNotFoundError, ValueError):
        return {}


def _write_json(path: Path, data: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)
