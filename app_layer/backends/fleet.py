"""The fleet backend: every process is a fleet unit ``<app>_v<N>.<type>.<num>.service`` wrapping ``docker run``.

``APP_LAYER_SCHEDULER=fleet`` with ``FLEET_ENDPOINT`` = ``unix:///var/run/fleet.sock`` (fleetd's
socket, as fleetctl and Deis use it) or ``http://host:port`` (a ``ListenStream=`` drop-in). The
units are decided in ``fleet_units`` (pure); this module speaks fleet API v1 and waits:

* ``deploy`` plans as every backend does (``plan.plan``): units of the new release are created
  with ``desiredState: launched`` (fleet schedules them; ``Conflicts`` spread the processes
  of one type over the machines, see ``fleet_units``), then ``/fleet/v1/state`` is polled until
  each is ``active``/``running`` on its machine; only then are the old units deleted, and deploy
  returns once their machines have stopped them (a rolling deploy). A unit that fails, or is not
  running when ``timeout`` runs out, fails the rollout (``RolloutFailed``): the units this deploy
  created are deleted and the old ones were never touched. Scaling keeps running units and adds or
  deletes only the difference.
* fleet knows processes only as systemd units: it has no health checks. ``Process.healthy`` is
  therefore ``None`` (not checked): the route publisher checks health itself before it registers a
  route, as Deis's publisher did.
* ``Process.host``/``port``: fleet does not report ports. ``docker run`` publishes ``PORT`` on an
  ephemeral host port; the backend asks the Docker Engine of the unit's machine for it
  (``docker_url``: ``DOCKER_HOST``, where ``{ip}`` stands for the machine's ``primaryIP``, e.g.
  ``tcp://{ip}:2375`` on a private cluster network; the local socket when every machine is this
  host). Processes are reachable at the machine's ``primaryIP``, or at ``publish_ip`` when the port
  is published on one address only: ``127.0.0.1`` when ``DOCKER_HOST`` is a unix socket (every
  machine is this host). ``Process.state`` comes from systemd's ACTIVE/SUB states in ``/state``.
* ``restart`` stops and starts matching units one at a time (desiredState ``loaded``, then
  ``launched``); ``destroy`` deletes every unit of the app and waits (briefly) for their states to go.
* No one-off ``run`` and no ``logs``: fleet offers neither (Deis reached into machines over SSH for
  them); the capabilities say so and the API answers 501.

The API is contacted lazily, per request; a socket that does not answer, or fleet's 503
("unable to communicate with etcd"), becomes ``Unavailable``.
"""
from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import docker
import requests
from docker.errors import DockerException

from app_layer.backends import fleet_units as units
from app_layer.backends.base import Backend, Capability, Process, ReleaseSpec
from app_layer.backends.base import State as S
from app_layer.backends.plan import ONE_OFF, Observed, plan
from app_layer.errors import RolloutFailed, Unavailable
from app_layer.settings import Settings, SettingsError

PREFIX = "/fleet/v1"
DEFAULT_DOCKER = "unix:///var/run/docker.sock"
POLL = 0.25
_ACTIVE = {"active": S.UP, "activating": S.STARTING, "reloading": S.UP, "deactivating": S.DOWN,
           "inactive": S.DOWN, "failed": S.CRASHED}


def from_settings(settings: Settings) -> FleetBackend:
    docker_url = settings.docker_host or DEFAULT_DOCKER
    return FleetBackend(settings.fleet_endpoint, docker_url=docker_url,
                        publish_ip="127.0.0.1" if docker_url.startswith("unix://") else "",
                        stop_grace=settings.stop_grace)


class FleetError(Unavailable):
    """fleet refused a request (a 4xx other than 404): a unit fleet cannot accept, or a bug of ours."""

    def __init__(self, status: int, message: str, method: str, path: str):
        super().__init__(f"fleet answered {status} to {method} {path}: {message or 'no message'}")
        self.status, self.message = status, message


class FleetClient:
    """fleet API v1 over a unix socket or TCP; one connection per request (thread-safe, no state)."""

    def __init__(self, endpoint: str, timeout: float = 10.0):
        url = urlsplit(endpoint)
        if url.scheme not in ("unix", "http") or not (url.path if url.scheme == "unix" else url.hostname):
            raise SettingsError(f"FLEET_ENDPOINT: must be unix:///path or http://host:port, not {endpoint!r}")
        self.endpoint, self.url, self.timeout = endpoint, url, timeout

    def _connection(self) -> http.client.HTTPConnection:
        if self.url.scheme == "unix":
            return _UnixConnection(self.url.path, self.timeout)
        return http.client.HTTPConnection(self.url.hostname or "127.0.0.1", self.url.port or 80, timeout=self.timeout)

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """(status, decoded JSON body or None); 5xx and unreachable become ``Unavailable``, 4xx ``FleetError``
        except 404 (returned: callers decide what "gone" means)."""
        conn = self._connection()
        headers = {"Content-Type": "application/json"} if body is not None else {}
        try:
            conn.request(method, PREFIX + path, json.dumps(body) if body is not None else None, headers)
            response = conn.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException):
            raise Unavailable(f"fleet at {self.endpoint} cannot be reached; try again when it is back.") from None
        finally:
            conn.close()
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            raise Unavailable(f"fleet at {self.endpoint} answered {response.status} with a body that is not "
                              "JSON; is FLEET_ENDPOINT fleet's API?") from None
        message = ((data or {}).get("error") or {}).get("message", "") if isinstance(data, dict) else ""
        if response.status >= 500:
            raise Unavailable(f"fleet at {self.endpoint} failed ({response.status}): {message or 'no message'}")
        if response.status >= 400 and response.status != 404:
            raise FleetError(response.status, message, method, path)
        return response.status, data

    def pages(self, path: str, key: str, **query: str) -> Iterator[dict[str, Any]]:
        """Every item of a paginated collection (``units``, ``states``, ``machines``)."""
        token = ""
        while True:
            params = dict(query, **({"nextPageToken": token} if token else {}))
            suffix = "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items()) if params else ""
            _status, page = self.request("GET", path + suffix)
            yield from (page or {}).get(key, [])
            token = (page or {}).get("nextPageToken", "")
            if not token:
                return


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


@dataclass(frozen=True)
class Seen:
    """One unit of an app, with the state its machine reports (if any)."""

    name: units.UnitName
    desired: str
    machine: str
    active: str      # systemd ACTIVE state ("" when the agent has reported none)
    sub: str

    @property
    def id(self) -> str:
        return str(self.name)

    @property
    def state(self) -> S:
        if self.desired == "inactive":
            return S.CREATED if not self.active else S.DOWN
        if not self.active:
            return S.INITIALIZED if not self.machine else S.STARTING
        if self.active == "active" and self.sub != "running":
            return S.STARTING
        return _ACTIVE.get(self.active, S.UNKNOWN)

    def observed(self) -> Observed:
        running = self.desired == "launched" and self.state not in (S.CRASHED, S.DOWN)
        return Observed(self.id, self.name.version, self.name.type, self.name.num, running)


class FleetBackend(Backend):
    name = "fleet"
    capabilities = frozenset({Capability.ROLLING_DEPLOY, Capability.RESTART})

    def __init__(self, endpoint: str, *, docker_url: str = DEFAULT_DOCKER, publish_ip: str = "",
                 stop_grace: float = 10.0, api_timeout: float = 10.0, destroy_wait: float = 10.0,
                 restart_timeout: float = 120.0):
        self.client = FleetClient(endpoint, api_timeout)
        self.docker_url, self.publish_ip = docker_url, publish_ip
        self.stop_grace, self.destroy_wait, self.restart_timeout = stop_grace, destroy_wait, restart_timeout
        self._engines: dict[str, docker.APIClient] = {}
        self._ports: dict[tuple[str, str], int] = {}   # (machine, unit) -> host port, while it runs
        self._lock = threading.Lock()

    # -- observing -------------------------------------------------------------------------------

    def _seen(self, app: str | None) -> list[Seen]:
        mine = [(parsed, u) for u in self.client.pages("/units", "units")
                if (parsed := units.parse_unit_name(u.get("name", ""))) and app in (None, parsed.app)]
        if not mine:
            return []
        states = {s["name"]: s for s in self.client.pages("/state", "states")}
        out = []
        for parsed, unit in mine:
            state = states.get(unit["name"], {})
            machine = unit.get("machineID") or state.get("machineID", "")
            out.append(Seen(parsed, unit.get("desiredState", ""), machine, state.get("systemdActiveState", ""),
                            state.get("systemdSubState", "")))
        return out

    def machines(self) -> dict[str, dict[str, Any]]:
        return {m["id"]: m for m in self.client.pages("/machines", "machines")}

    def processes(self, app: str | None = None) -> list[Process]:
        seen = self._seen(app)
        machines = self.machines() if seen else {}
        procs = [self._process(s, machines.get(s.machine, {})) for s in seen]
        return sorted(procs, key=lambda p: (p.app, p.type, p.num, p.version))

    def _process(self, seen: Seen, machine: dict[str, Any]) -> Process:
        state = seen.state
        host, port = "", None
        if state is S.UP and machine:
            port = self._host_port(seen, machine)
            host = (self.publish_ip or machine.get("primaryIP", "")) if port else ""
        return Process(seen.name.app, seen.name.version, seen.name.type, seen.name.num, state, None, host, port,
                       seen.id)

    def _host_port(self, seen: Seen, machine: dict[str, Any]) -> int | None:
        """The host port ``PORT`` is published on, from the Docker Engine of the unit's machine."""
        key = (machine["id"], seen.id)
        with self._lock:
            if key in self._ports:
                return self._ports[key]
        url = self.docker_url.replace("{ip}", machine.get("primaryIP", ""))
        try:
            with self._lock:
                engine = self._engines.get(url)
                if engine is None:
                    engine = self._engines[url] = docker.APIClient(base_url=url, version="auto", timeout=5)
            info = engine.inspect_container(seen.name.job)
        except (DockerException, requests.exceptions.RequestException):
            return None
        port = ((info.get("Config") or {}).get("Labels") or {}).get(units.LABEL_PORT, "")
        bindings = ((info.get("NetworkSettings") or {}).get("Ports") or {}).get(f"{port}/tcp") or []
        host_port = next((int(b["HostPort"]) for b in bindings if b.get("HostPort")), None)
        if host_port is not None and (info.get("State") or {}).get("Running"):
            with self._lock:
                self._ports[key] = host_port
        return host_port

    # -- deploying -------------------------------------------------------------------------------

    def deploy(self, release: ReleaseSpec, formation: dict[str, int], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        wanted = {ptype: count for ptype, count in formation.items() if ptype != ONE_OFF}
        current = {s.id: s for s in self._seen(release.app)}
        decision = plan([s.observed() for s in current.values()], release.version, wanted)
        if not decision.changes:
            return
        for dead in decision.clear:   # failed units: free their names before anything is created
            self._delete(dead.id)
        self._await_gone([o.id for o in decision.clear], deadline)
        started: list[str] = []
        try:
            if decision.start:
                self._create(release, decision.start, started)
            # units kept from an interrupted rollout may still be starting: they must run before old ones go
            waiting = started + [o.id for o in decision.keep if current[o.id].state is not S.UP]
            failure = self._await_running(waiting, deadline, timeout) if waiting else ""
        except FleetError as exc:
            failure = exc.detail
        except Unavailable:
            self._quietly_delete(started)
            raise
        if failure:
            self._quietly_delete(started)
            raise RolloutFailed(f"v{release.version} of {release.app}: {failure}")
        for old in decision.retire:
            self._delete(old.id)
        # fleet forgets a deleted unit at once, but its machine stops it (ExecStop) afterwards: wait for
        # that, so that when deploy returns only the formation runs (bounded: a lost machine never reports)
        self._await_gone([o.id for o in decision.retire], max(deadline, time.monotonic() + self.destroy_wait))
        self._forget([o.id for o in decision.retire + decision.clear])

    def _create(self, release: ReleaseSpec, slots: list[tuple[str, int]], started: list[str]) -> None:
        """PUT one launched unit per slot; ``started`` collects the names as they are sent."""
        # the machines the release may run on: spreading over more would leave units unschedulable
        machines = len([m for m in self.machines().values()
                        if all((m.get("metadata") or {}).get(k) == v for k, v in release.tags.items())])
        for ptype, num in slots:
            name = units.unit_name(release, ptype, num)
            options = units.unit_options(release, ptype, num, publish_ip=self.publish_ip, machines=machines,
                                         stop_grace=self.stop_grace)
            started.append(name)
            self.client.request("PUT", f"/units/{name}", {"desiredState": "launched", "options": options})

    def _await_running(self, names: list[str], deadline: float, timeout: float) -> str:
        """Wait until every unit in ``names`` runs; '' or why not."""
        pending = set(names)
        while True:
            states = {s["name"]: s for s in self.client.pages("/state", "states")}
            for name in sorted(pending):
                state = states.get(name, {})
                active, sub = state.get("systemdActiveState", ""), state.get("systemdSubState", "")
                if active == "active" and sub == "running":
                    pending.discard(name)
                elif active == "failed":
                    return f"unit {name} failed on machine {state.get('machineID', '?')} ({active}/{sub})"
            if not pending:
                return ""
            if time.monotonic() >= deadline:
                where = ", ".join(f"{n} ({_describe(states.get(n))})" for n in sorted(pending))
                return f"not running within {timeout:g}s: {where}"
            time.sleep(POLL)

    def _delete(self, name: str) -> None:
        self.client.request("DELETE", f"/units/{name}")   # 404: already gone, which is what we want

    def _quietly_delete(self, names: list[str]) -> None:
        for name in names:
            try:
                self._delete(name)
            except (Unavailable, FleetError):
                pass

    def _await_gone(self, names: list[str], deadline: float) -> None:
        """Wait until the agents have unloaded ``names`` (fleet keeps a deleted unit's state until then)."""
        pending = set(names)
        while pending and time.monotonic() < deadline:
            pending &= {s["name"] for s in self.client.pages("/state", "states")}
            if pending:
                time.sleep(POLL)

    def _forget(self, names: list[str]) -> None:
        with self._lock:
            for key in [k for k in self._ports if k[1] in names]:
                del self._ports[key]

    def restart(self, app: str, process_type: str | None = None, num: int | None = None) -> list[Process]:
        """Restart matching units one at a time (``loaded``, then ``launched`` again), so the others keep
        serving; each must be running again within ``restart_timeout`` seconds."""
        seen = [s for s in self._seen(app) if s.desired == "launched" and s.name.type != ONE_OFF
                and process_type in (None, s.name.type) and num in (None, s.name.num)]
        for unit in sorted(seen, key=lambda s: (s.name.type, s.name.num)):
            deadline = time.monotonic() + self.restart_timeout
            self.client.request("PUT", f"/units/{unit.id}", {"desiredState": "loaded"})
            self._await_state(unit.id, ("inactive", "failed"), deadline)
            self.client.request("PUT", f"/units/{unit.id}", {"desiredState": "launched"})
            failure = self._await_running([unit.id], deadline, self.restart_timeout)
            if failure:
                raise RolloutFailed(f"restart of {app} {unit.name.type}.{unit.name.num}: {failure}")
        self._forget([s.id for s in seen])
        wanted = {s.id for s in seen}
        return [p for p in self.processes(app) if p.backend_id in wanted]

    def _await_state(self, name: str, active: tuple[str, ...], deadline: float) -> None:
        while time.monotonic() < deadline:
            states = list(self.client.pages("/state", "states", unitName=name))
            if not states or all(s.get("systemdActiveState") in active for s in states):
                return
            time.sleep(POLL)

    def destroy(self, app: str) -> None:
        names = [s.id for s in self._seen(app)]
        for name in names:
            self._delete(name)
        self._await_gone(names, time.monotonic() + self.destroy_wait)
        self._forget(names)

    def close(self) -> None:
        with self._lock:
            engines, self._engines = list(self._engines.values()), {}
        for engine in engines:
            engine.close()


def _describe(state: dict[str, Any] | None) -> str:
    if not state:
        return "not scheduled or not reported yet"
    return f"{state.get('systemdActiveState')}/{state.get('systemdSubState')} on {state.get('machineID')}"
