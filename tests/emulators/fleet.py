"""A fleet API v1 emulator: fleetd's HTTP API, its engine and its agents, in one thread-safe object.

fleet cannot run here (fleetd needs systemd as PID 1), so the fleet backend is tested against this
emulator, which follows fleet v1.0.0's published API and its recorded behaviour
(``../shared/fleet-schema/``: the discovery document and 72 recorded exchanges):

* the discovery document served byte for byte at ``/fleet/v1/discovery`` (and ``/v1-alpha/``);
* fleet's status codes and its error body ``{"error": {"code": N, "message": "..."}}``; Go's
  compact JSON with sorted keys (so bodies match the recorded ``Content-Length``); ``{}`` for an
  empty page; page tokens (base64url of little-endian uint16 limit and page; ``token_limit``);
* units (PUT create / replace / desiredState change, GET, DELETE, list), state (list with the
  ``unitName``/``machineID`` filters, get one), machines (list, PATCH of metadata);
* every request body is validated against the discovery document's schemas; an invalid one is
  refused with 400 naming the field and the rule.

Deliberate deviations from fleet v1.0.0, where its answers were bugs (also asserted, each with the
reason, in ``tests/fleet/test_contract.py``): an invalid ``desiredState`` is a 400 (fleet answered
500 on create and 204 on update, which then poisoned the unit); ``GET state/<unknown>`` is a 404
(fleet panicked and closed the connection); the ``Server`` header reads ``fleetd/v1.0.0`` (the
recording's binary was built without release flags).

The engine (placement: least loaded machine; ``MachineID``, ``MachineOf``, ``MachineMetadata``,
``Conflicts``, ``Global``) and the agents (systemd states, heartbeats) run in a background thread
when ``auto`` is on; with it off, a test moves the cluster by hand (``schedule``, ``report_state``,
``heartbeat``), as the recording did. What a launched unit *does* is a ``Runner``'s business:
``FakeRunner`` (starts, hangs or fails by name pattern) or ``DockerRunner``, which runs the unit's
``ExecStartPre``/``ExecStart``/``ExecStop`` lines, split by systemd's rules, against the real dockerd.
"""
from __future__ import annotations

import base64
import fnmatch
import hashlib
import http.server
import json
import os
import shlex
import shutil
import socketserver
import struct
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = Path(os.environ.get("FLEET_SCHEMA_DIR") or ROOT.parent / "shared" / "fleet-schema")
PREFIXES = ("/fleet/v1", "/v1-alpha")
STATES = ("inactive", "loaded", "launched")
UNIT_TYPES = {"service", "socket", "busname", "target", "snapshot", "device", "mount", "automount", "swap",
              "timer", "path", "slice", "scope"}
TEMPLATE_TYPES = {"path", "service", "socket", "target", "timer"}
VALID_CHARS = set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ:-_.\\@")
UNAVAILABLE = "fleet server unable to communicate with etcd"
ALIASES = {"X-ConditionMachineID": "MachineID", "X-ConditionMachineOf": "MachineOf",
           "X-ConditionMachineMetadata": "MachineMetadata", "X-Conflicts": "Conflicts"}


def discovery_bytes() -> bytes:
    return (SCHEMA_DIR / "v1.json").read_bytes()


def discovery() -> dict[str, Any]:
    return json.loads(discovery_bytes())


def schema_validator(name: str) -> jsonschema.Draft4Validator:
    """A validator of discovery schema ``name`` (``$ref``s resolved within the document's ``schemas``).

    Discovery documents are JSON Schema Draft 3 in spirit, but their ``"required": true`` marks *path
    parameters*, and fleet itself ignores the one on ``Unit.machineID`` (every recorded create omits
    it): validating as Draft 4 treats that boolean as a no-op on a string, which is fleet's reading.
    """
    schemas = discovery()["schemas"]

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(schemas[node["$ref"]])
            return {k: resolve(v) for k, v in node.items() if k != "id"}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return jsonschema.Draft4Validator(resolve(schemas[name]))


def go_json(value: Any) -> bytes:
    """``encoding/json.Marshal`` output: compact, struct fields (alphabetical in fleet's schema) sorted,
    ``<``, ``>`` and ``&`` escaped."""
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode()


def encode_token(limit: int, page: int) -> str:
    return base64.urlsafe_b64encode(struct.pack("<HH", limit, page)).decode()


def unit_hash(options: list[dict[str, str]]) -> str:
    """SHA1 of the unit file as fleet serializes it: sections in first-seen order."""
    sections: dict[str, list[str]] = {}
    for opt in options:
        sections.setdefault(opt.get("section", ""), []).append(f"{opt.get('name', '')}={opt.get('value', '')}\n")
    text = "\n".join(f"[{name}]\n" + "".join(lines) for name, lines in sections.items())
    return hashlib.sha1(text.encode()).hexdigest()


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "a": "\a", "b": "\b",
            "f": "\f", "v": "\v", "s": " ", "$": "$"}


def systemd_split(line: str) -> list[str]:
    """Split an ``Exec*=`` value into argv the way systemd does (``systemd.service(5)``, "Command lines"):
    words separated by whitespace, double and single quotes, C escapes, ``$$`` -> ``$`` and
    ``%%`` -> ``%``. Leading ``-``/``@``/``+`` prefixes are left to the caller. Variable and specifier
    expansion is not emulated: an unescaped ``$`` or ``%`` is an error, so a unit that would have
    systemd expand a user's value fails the test instead of passing by accident."""
    words: list[str] = []
    i = 0
    while i < len(line):
        if line[i] in " \t":
            i += 1
            continue
        word, i = _word(line, i)
        words.append(word)
    return words


def _word(line: str, i: int) -> tuple[str, int]:
    """The word starting at ``line[i]`` and the index after it."""
    word: list[str] = []
    quote = ""
    n = len(line)
    while i < n and (quote or line[i] not in " \t"):
        char = line[i]
        if char in "\"'" and (not quote or quote == char):
            quote = "" if quote else char
        elif char == "\\" and i + 1 < n:
            if line[i + 1] == "x":
                word.append(chr(int(line[i + 2:i + 4], 16)))
                i += 2
            else:
                word.append(_ESCAPES.get(line[i + 1], line[i + 1]))
            i += 1
        elif char in "$%" and line[i + 1:i + 2] == char:
            word.append(char)
            i += 1
        elif char in "$%":
            raise ValueError(f"the emulator does not expand {char!r} in {line!r}")
        else:
            word.append(char)
        i += 1
    if quote:
        raise ValueError(f"unbalanced quotes in {line!r}")
    return "".join(word), i


def option_values(options: list[dict[str, str]], section: str, name: str) -> list[str]:
    return [o.get("value", "") for o in options
            if o.get("section") == section and ALIASES.get(o.get("name", ""), o.get("name")) == name]


class HTTPError(Exception):
    def __init__(self, code: int, message: str = ""):
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes = b""


@dataclass
class Machine:
    id: str
    primary_ip: str
    metadata: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "primaryIP": self.primary_ip}
        if self.metadata:
            out["metadata"] = dict(self.metadata)
        return out


@dataclass
class Unit:
    name: str
    options: list[dict[str, str]]
    desired: str
    target: str | None = None    # scheduled machine (never set for global units)

    @property
    def hash(self) -> str:
        return unit_hash(self.options)

    def xfleet(self, name: str) -> list[str]:
        return option_values(self.options, "X-Fleet", name)

    @property
    def is_global(self) -> bool:
        return any(v.strip().lower() in ("true", "1", "yes") for v in self.xfleet("Global"))

    @property
    def is_template(self) -> bool:
        return self.name.split(".")[0].endswith("@")


@dataclass
class UnitState:
    load: str
    active: str
    sub: str
    hash: str


# -- runners: what a launched unit does --------------------------------------------------------------

class Handle:
    """One started unit on one machine."""

    def status(self) -> tuple[str, int | None]:
        """``("starting", None)``, ``("running", None)`` or ``("exited", code)``."""
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


class Runner:
    def start(self, unit: str, machine: Machine, options: list[dict[str, str]]) -> Handle:
        raise NotImplementedError


class _FakeHandle(Handle):
    def __init__(self, outcome: str, ready_at: float):
        self.outcome, self.ready_at, self.stopped = outcome, ready_at, False

    def status(self) -> tuple[str, int | None]:
        if self.stopped:
            return "exited", 0
        if self.outcome == "hang" or time.monotonic() < self.ready_at:
            return "starting", None
        if self.outcome == "fail":
            return "exited", 1
        return "running", None

    def stop(self) -> None:
        self.stopped = True


class _Exited(Handle):
    def __init__(self, code: int):
        self.code = code

    def status(self) -> tuple[str, int | None]:
        return "exited", self.code

    def stop(self) -> None:
        pass


class FakeRunner(Runner):
    """Units run without running anything: they start after ``start_delay`` seconds, except those whose
    name matches a glob in ``hang`` (stuck in ExecStartPre for ever) or ``fail`` (exit with status 1)."""

    def __init__(self, start_delay: float = 0.05):
        self.start_delay = start_delay
        self.hang: set[str] = set()
        self.fail: set[str] = set()
        self.started: list[tuple[str, str]] = []   # (unit, machine id), in order

    def start(self, unit: str, machine: Machine, options: list[dict[str, str]]) -> Handle:
        self.started.append((unit, machine.id))
        outcome = ("hang" if any(fnmatch.fnmatchcase(unit, g) for g in self.hang)
                   else "fail" if any(fnmatch.fnmatchcase(unit, g) for g in self.fail) else "ok")
        return _FakeHandle(outcome, time.monotonic() + self.start_delay)


def _executable(argv: list[str]) -> list[str]:
    """systemd needs absolute paths; this host may keep a tool elsewhere than the unit says."""
    if argv and not os.path.exists(argv[0]):
        found = shutil.which(os.path.basename(argv[0]))
        if found:
            return [found, *argv[1:]]
    return argv


def _command(value: str) -> tuple[list[str], bool]:
    """An ``Exec*=`` value -> (argv, failure ignored)."""
    ignore = False
    while value[:1] in ("-", "@", "+", "!"):
        ignore = ignore or value[0] == "-"
        value = value[1:]
    return _executable(systemd_split(value)), ignore


class _DockerHandle(Handle):
    def __init__(self, options: list[dict[str, str]], timeout: float):
        self.pre = [_command(v) for v in option_values(options, "Service", "ExecStartPre")]
        self.main = [_command(v) for v in option_values(options, "Service", "ExecStart")][0][0]
        self.stops = [_command(v) for v in option_values(options, "Service", "ExecStop")]
        self.container = self.main[self.main.index("--name") + 1] if "--name" in self.main else ""
        self.timeout = timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.failed: int | None = None
        self.seen_running = False
        self.stopping = False
        self._thread = threading.Thread(target=self._start, daemon=True)
        self._thread.start()

    def _start(self) -> None:
        for argv, ignore in self.pre:
            if self.stopping:
                return
            rc = subprocess.run(argv, capture_output=True, timeout=self.timeout).returncode
            if rc and not ignore:
                self.failed = rc
                return
        if not self.stopping:
            self.proc = subprocess.Popen(self.main, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)

    def status(self) -> tuple[str, int | None]:
        if self.failed is not None:
            return "exited", self.failed
        if self.proc is None:
            return "starting", None
        code = self.proc.poll()
        if code is not None:
            return "exited", code
        if not self.seen_running:
            probe = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", self.container],
                                   capture_output=True, text=True, timeout=self.timeout)
            self.seen_running = probe.stdout.strip() == "true"
        return ("running", None) if self.seen_running else ("starting", None)

    def stop(self) -> None:
        self.stopping = True
        self._thread.join(self.timeout)
        for argv, _ignore in self.stops:
            subprocess.run(argv, capture_output=True, timeout=self.timeout)
        if self.proc is not None:
            try:
                self.proc.wait(self.timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class DockerRunner(Runner):
    """Runs each unit's Exec lines (no shell: argv as systemd would build it) against the real dockerd."""

    def __init__(self, timeout: float = 60.0):
        self.timeout = timeout

    def start(self, unit: str, machine: Machine, options: list[dict[str, str]]) -> Handle:
        return _DockerHandle(options, self.timeout)


# -- the emulator -----------------------------------------------------------------------------------

@dataclass
class _Slot:
    """A unit started on a machine by its agent."""

    handle: Handle
    hash: str
    restart_at: float | None = None


class FleetEmulator:
    def __init__(self, *, token_limit: int = 100, auto: bool = True, runner: Runner | None = None,
                 tick: float = 0.05, unload_delay: float = 0.1, restart_delay: float = 0.5,
                 version: str = "v1.0.0"):
        self.token_limit = token_limit
        self.runner = runner or FakeRunner()
        self.tick, self.unload_delay, self.restart_delay = tick, unload_delay, restart_delay
        self.server = f"fleetd/{version}"
        self.available = True
        self.machines: dict[str, Machine] = {}
        self.units: dict[str, Unit] = {}
        self.states: dict[tuple[str, str], UnitState] = {}
        self.heartbeats: dict[str, str] = {}
        self.requests: list[tuple[str, str, bytes]] = []   # (method, path and query, body) of every request
        self.answers: list[tuple[str, str, int]] = []      # (method, path and query, status) of every answer
        self.lock = threading.RLock()
        self._slots: dict[tuple[str, str], _Slot] = {}
        self._unloading: dict[tuple[str, str], float] = {}
        self._stopping: set[tuple[str, str]] = set()   # ExecStop still running
        self._unit_validator = schema_validator("Unit")
        self._discovery = discovery_bytes()
        self._servers: list[socketserver.BaseServer] = []
        self._stop = threading.Event()
        self._jobs: list[threading.Thread] = []
        self._loop: threading.Thread | None = None
        if auto:
            self._loop = threading.Thread(target=self._run, daemon=True, name="fleet-emulator")
            self._loop.start()

    # -- cluster control ------------------------------------------------------------------------

    def add_machine(self, machine_id: str, primary_ip: str = "127.0.0.1", **metadata: str) -> Machine:
        with self.lock:
            machine = self.machines[machine_id] = Machine(machine_id, primary_ip, dict(metadata))
            return machine

    def schedule(self, unit: str, machine_id: str) -> None:
        with self.lock:
            self.units[unit].target = machine_id

    def report_state(self, unit: str, machine_id: str, load: str, active: str, sub: str, hash: str = "") -> None:
        with self.lock:
            known = self.units.get(unit)
            self.states[(unit, machine_id)] = UnitState(load, active, sub, hash or (known.hash if known else ""))

    def heartbeat(self, unit: str, machine_id: str) -> None:
        with self.lock:
            self.heartbeats[unit] = machine_id

    def crash(self, unit: str) -> None:
        """Fault injection: the unit's process dies with status 1 (systemd restarts it after
        ``restart_delay`` when the unit says ``Restart=on-failure``)."""
        with self.lock:
            for key, slot in self._slots.items():
                if key[0] == unit:
                    threading.Thread(target=slot.handle.stop, daemon=True).start()
                    slot.handle = _Exited(1)

    def drop_state(self, unit: str, machine_id: str) -> None:
        with self.lock:
            self.states.pop((unit, machine_id), None)

    def current_state(self, unit: Unit) -> str:
        if unit.target is None or (unit.name, unit.target) not in self.states:
            return "inactive"
        return "launched" if self.heartbeats.get(unit.name) == unit.target else "loaded"

    # -- HTTP -----------------------------------------------------------------------------------

    def serve_tcp(self) -> str:
        server = _TCPServer(("127.0.0.1", 0), _handler(self))
        self._serve(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    def serve_unix(self, path: str | Path) -> str:
        server = _UnixServer(str(path), _handler(self))
        self._serve(server)
        return f"unix://{path}"

    def _serve(self, server: socketserver.BaseServer) -> None:
        self._servers.append(server)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()

    def close(self) -> None:
        self._stop.set()
        for server in self._servers:
            server.shutdown()
            server.server_close()
        if self._loop is not None:
            self._loop.join(5)
        with self.lock:
            slots = list(self._slots.values())
            self._slots.clear()
        for slot in slots:
            slot.handle.stop()
        for job in self._jobs:
            job.join(60)

    def handle(self, method: str, target: str, headers: dict[str, list[str]], body: bytes) -> Response:
        """One request -> one response, as fleetd's mux answers it."""
        with self.lock:
            self.requests.append((method, target, body))
            if not self.available:
                response = Response(503, {"Content-Type": "application/json"}, go_json(_error(503, UNAVAILABLE)))
            else:
                try:
                    response = self._route(method, target, headers, body)
                except HTTPError as exc:
                    response = self._json(exc.code, _error(exc.code, exc.message))
            self.answers.append((method, target, response.status))
            return response

    def _json(self, status: int, value: Any) -> Response:
        return Response(status, {"Content-Type": "application/json", "Server": self.server}, go_json(value))

    def _empty(self, status: int) -> Response:
        headers = {"Server": self.server}
        if status == 201:
            headers["Content-Length"] = "0"
        return Response(status, headers)

    def _route(self, method: str, target: str, headers: dict[str, list[str]], body: bytes) -> Response:
        url = urlsplit(target)
        path, query = url.path, parse_qs(url.query, keep_blank_values=True)
        if path == "/":
            raise HTTPError(405)
        for prefix in PREFIXES:
            if path == prefix:
                raise HTTPError(405)
            if path.startswith(prefix + "/"):
                return self._resource(method, path[len(prefix) + 1:], query, headers, body)
        raise HTTPError(404)

    def _resource(self, method: str, rest: str, query: dict[str, list[str]], headers: dict[str, list[str]],
                  body: bytes) -> Response:
        collection, sep, item = rest.partition("/")
        if sep and (not item or "/" in item):   # "units/", "units/a/b.service"
            raise HTTPError(404)
        if collection == "discovery" and not sep:
            if method != "GET":
                raise HTTPError(400, "only HTTP GET supported against this resource")
            return Response(200, {"Content-Type": "application/json", "Server": self.server}, self._discovery)
        if collection == "machines" and not sep:
            if method == "GET":
                return self._page("machines", [m.as_json() for _id, m in sorted(self.machines.items())], query)
            if method == "PATCH":
                return self._patch_machines(headers, body)
            raise HTTPError(405, "only GET and PATCH supported against this resource")
        if collection == "units":
            return self._units(method, item, query, headers, body)
        if collection == "state":
            return self._states(method, item, query)
        raise HTTPError(404)

    def _units(self, method: str, item: str, query: dict[str, list[str]], headers: dict[str, list[str]],
               body: bytes) -> Response:
        if not item:
            if method != "GET":
                raise HTTPError(405, "only GET supported against this resource")
            return self._page("units", [self._unit_json(u, listing=True) for _n, u in sorted(self.units.items())],
                              query)
        if method == "GET":
            return self._json(200, self._unit_json(self._unit(item), listing=False))
        if method == "DELETE":
            self._unit(item)
            del self.units[item]
            self.heartbeats.pop(item, None)
            return self._empty(204)
        if method == "PUT":
            return self._put(item, headers, body)
        raise HTTPError(405, "only GET, PUT and DELETE supported against this resource")

    def _states(self, method: str, item: str, query: dict[str, list[str]]) -> Response:
        if method != "GET":
            raise HTTPError(405, "only GET supported against this resource")
        if not item:
            return self._page("states", self._state_list(query), query)
        found = [s for s in self._state_list({}) if s["name"] == item]
        if not found:   # fleet v1.0.0 panics here (nil dereference); answer what it meant to
            raise HTTPError(404, "unit state does not exist")
        return self._json(200, found[0])

    def _unit(self, name: str) -> Unit:
        unit = self.units.get(name)
        if unit is None:
            raise HTTPError(404, "unit does not exist")
        return unit

    def _unit_json(self, unit: Unit, listing: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"name": unit.name, "options": [dict(o) for o in unit.options],
                               "desiredState": unit.desired}
        if unit.is_global:
            if listing:   # recorded: the list says inactive, GET of the same unit leaves it out
                out["currentState"] = "inactive"
            return out
        out["currentState"] = self.current_state(unit)
        if unit.target:
            out["machineID"] = unit.target
        return out

    def _state_list(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        names, machines = query.get("unitName"), query.get("machineID")
        out = []
        for (name, machine), state in sorted(self.states.items()):
            if (names and name not in names) or (machines and machine not in machines):
                continue
            out.append({"name": name, "machineID": machine, "hash": state.hash, "systemdLoadState": state.load,
                        "systemdActiveState": state.active, "systemdSubState": state.sub})
        return out

    def _page(self, key: str, items: list[dict[str, Any]], query: dict[str, list[str]]) -> Response:
        tokens = query.get("nextPageToken", [])
        page = 1
        if len(tokens) > 1:
            raise HTTPError(400, "too many values for page token")
        if tokens:
            page = self._decode_token(tokens[0])
        start, stop = (page - 1) * self.token_limit, page * self.token_limit
        out: dict[str, Any] = {}
        if start < len(items):
            out[key] = items[start:stop]
            if stop <= len(items):   # fleet offers a next page whenever this one is full
                out["nextPageToken"] = encode_token(self.token_limit, page + 1)
        return self._json(200, out)

    def _decode_token(self, value: str) -> int:
        try:
            raw = base64.b64decode(value.encode(), altchars=b"-_", validate=True)
        except ValueError:
            bad = next((i for i, c in enumerate(value) if not (c.isalnum() or c in "-_=")), len(value) // 4 * 4)
            raise HTTPError(400, f"illegal base64 data at input byte {bad}") from None
        if len(raw) < 4:
            raise HTTPError(400, "unexpected EOF")
        limit, page = struct.unpack("<HH", raw[:4])
        if limit != self.token_limit:
            raise HTTPError(400, f"token limit must be {self.token_limit}")
        if page == 0:
            raise HTTPError(400, "token page must be greater than zero")
        return page

    # -- PUT units/<name> -----------------------------------------------------------------------

    def _put(self, name: str, headers: dict[str, list[str]], body: bytes) -> Response:
        _content_type(headers)
        doc = _decode(body)
        errors = sorted(self._unit_validator.iter_errors(doc), key=lambda e: list(e.path))
        if errors:   # fleet: 500 on create, 204 (and a poisoned unit) on update; we refuse
            where = ".".join(str(p) for p in errors[0].path) or "body"
            raise HTTPError(400, f"invalid Unit: {where}: {errors[0].message}")
        body_name = doc.get("name") or name
        if body_name != name:
            raise HTTPError(400, f"name in URL {json.dumps(name)} differs from unit name in request body "
                                 f"{json.dumps(body_name)}")
        _validate_name(name)
        options = [{"section": o.get("section", ""), "name": o.get("name", ""), "value": o.get("value", "")}
                   for o in doc.get("options") or []]
        desired = doc.get("desiredState", "")
        existing = self.units.get(name)
        if existing is None or (options and unit_hash(options) != existing.hash):
            if not options:
                raise HTTPError(409, "unit does not exist and options field empty")
            _validate_options(options)
            target = existing.target if existing else None
            self.units[name] = Unit(name, options, desired or "inactive", target)
            return self._empty(201)
        if not desired:
            raise HTTPError(409, "must provide DesiredState to update existing unit")
        if existing.is_template and desired != "inactive":
            raise HTTPError(400, f"cannot activate template {json.dumps(name)}")
        existing.desired = desired
        return self._empty(204)

    def _patch_machines(self, headers: dict[str, list[str]], body: bytes) -> Response:
        _content_type(headers)
        ops = _decode(body)
        if not isinstance(ops, list):
            raise HTTPError(400, f"json: cannot unmarshal {_go_type(ops)} into Go value of type "
                                 "[]*api.machineMetadataOp")
        for op in ops:
            value = op.get("value") if isinstance(op, dict) else None
            if value is not None and not isinstance(value, dict):
                raise HTTPError(400, f"json: cannot unmarshal {_go_type(value)} into Go struct field "
                                     'machineMetadataOp.Value of type struct { Value string "json:\\"value\\"" }')
        for op in ops:
            if op.get("op") not in ("add", "remove", "replace"):
                raise HTTPError(400, "invalid op: expect add, remove, or replace")
            if op["op"] != "remove" and not (op.get("value") or {}).get("value"):
                raise HTTPError(400, "invalid value: add and replace require a value")
            parts = str(op.get("path", "")).split("/")
            if len(parts) != 4 or parts[0] or parts[2] != "metadata" or not parts[1] or not parts[3]:
                raise HTTPError(400, "invalid path")
        for op in ops:
            _, machine_id, _, key = op["path"].split("/")
            machine = self.machines.get(machine_id)
            if machine is None:
                continue
            if op["op"] == "remove":
                machine.metadata.pop(key, None)
            else:
                machine.metadata[key] = op["value"]["value"]
        return Response(204, {"Content-Type": "application/json", "Server": self.server})

    # -- engine and agents ----------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.wait(self.tick):
            with self.lock:
                self._reconcile_engine()
                work = self._reconcile_agents()
            for job in work:
                thread = threading.Thread(target=job, daemon=True)
                thread.start()
                self._jobs.append(thread)

    def _reconcile_engine(self) -> None:
        for unit in sorted(self.units.values(), key=lambda u: u.name):
            if unit.is_global or unit.is_template:
                continue
            if unit.desired == "inactive":
                unit.target = None
            elif unit.target is None or unit.target not in self.machines:
                unit.target = self._place(unit)

    def _eligible(self, unit: Unit, machine: Machine) -> bool:
        pinned = unit.xfleet("MachineID")
        if pinned and machine.id not in pinned:
            return False
        for peer in unit.xfleet("MachineOf"):
            other = self.units.get(peer)
            if other is None or other.target != machine.id:
                return False
        wanted: dict[str, set[str]] = {}
        for line in unit.xfleet("MachineMetadata"):
            for pair in shlex.split(line):
                key, _, value = pair.partition("=")
                wanted.setdefault(key, set()).add(value)
        if any(machine.metadata.get(key) not in values for key, values in wanted.items()):
            return False
        mine = unit.xfleet("Conflicts")
        for other in self.units.values():
            if other.name == unit.name or other.target != machine.id:
                continue
            if any(fnmatch.fnmatchcase(other.name, g) for g in mine) or \
                    any(fnmatch.fnmatchcase(unit.name, g) for g in other.xfleet("Conflicts")):
                return False
        return True

    def _place(self, unit: Unit) -> str | None:
        load = {m: 0 for m in self.machines}
        for other in self.units.values():
            if other.target in load:
                load[other.target] += 1
        eligible = [m for m in sorted(self.machines) if self._eligible(unit, self.machines[m])]
        return min(eligible, key=lambda m: (load[m], m)) if eligible else None

    def _assignments(self) -> dict[tuple[str, str], Unit]:
        out: dict[tuple[str, str], Unit] = {}
        for unit in self.units.values():
            if unit.is_template or unit.desired == "inactive":
                continue
            if unit.is_global:
                for machine in self.machines.values():
                    if self._eligible(unit, machine):
                        out[(unit.name, machine.id)] = unit
            elif unit.target is not None:
                out[(unit.name, unit.target)] = unit
        return out

    def _reconcile_agents(self) -> list[Callable[[], None]]:
        """Move every (unit, machine) one step; returns slow work (stopping) to do unlocked."""
        now = time.monotonic()
        work: list[Callable[[], None]] = []
        wanted = self._assignments()
        for key, slot in list(self._slots.items()):
            unit = wanted.get(key)
            if unit is None or unit.desired != "launched" or unit.hash != slot.hash:
                del self._slots[key]
                self._lose_heartbeat(key)
                self._stopping.add(key)
                work.append(lambda key=key, handle=slot.handle: self._stop_slot(key, handle))
                state = self.states.get(key)
                if state is not None:
                    self.states[key] = UnitState("loaded", "deactivating", "stop-sigterm", state.hash)
        for key, unit in wanted.items():
            self._unloading.pop(key, None)
            if key in self._stopping:
                continue
            if unit.desired == "loaded":
                self.states[key] = UnitState("loaded", "inactive", "dead", unit.hash)
            else:
                self._launch(key, unit, now)
        for key in list(self.states):
            if key in wanted or key in self._stopping:
                continue
            due = self._unloading.setdefault(key, now + self.unload_delay)
            if now >= due:   # the agent has unloaded the unit: its state goes away
                del self.states[key]
                del self._unloading[key]
        return work

    def _stop_slot(self, key: tuple[str, str], handle: Handle) -> None:
        """systemd runs ExecStop; only then does the agent report the unit dead (or unload it)."""
        try:
            handle.stop()
        finally:
            with self.lock:
                self._stopping.discard(key)
                state = self.states.get(key)
                if state is not None:
                    self.states[key] = UnitState("loaded", "inactive", "dead", state.hash)

    def _lose_heartbeat(self, key: tuple[str, str]) -> None:
        if self.heartbeats.get(key[0]) == key[1]:
            del self.heartbeats[key[0]]

    def _launch(self, key: tuple[str, str], unit: Unit, now: float) -> None:
        """Start the unit on its machine if it is not running, and report what systemd would."""
        slot = self._slots.get(key)
        if slot is None:
            handle = self.runner.start(unit.name, self.machines[key[1]], unit.options)
            self._slots[key] = slot = _Slot(handle, unit.hash)
        if slot.restart_at is not None:
            if now < slot.restart_at:
                return
            slot.handle = self.runner.start(unit.name, self.machines[key[1]], unit.options)
            slot.restart_at = None
        status, code = slot.handle.status()
        if status == "running":
            self.states[key] = UnitState("loaded", "active", "running", unit.hash)
            self.heartbeats[unit.name] = key[1]
            return
        if status == "starting":
            self.states[key] = UnitState("loaded", "activating", "start-pre", unit.hash)
            return
        self._lose_heartbeat(key)
        if code == 0:
            self.states[key] = UnitState("loaded", "inactive", "dead", unit.hash)
            return
        self.states[key] = UnitState("loaded", "failed", "failed", unit.hash)
        if "on-failure" in option_values(unit.options, "Service", "Restart"):
            slot.restart_at = now + self.restart_delay


def _error(code: int, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def _content_type(headers: dict[str, list[str]]) -> None:
    values = headers.get("content-type", [])
    if len(values) != 1:
        raise HTTPError(415, f"expected 1 Content-Type, got {len(values)}")
    if values[0].split(";", 1)[0].strip() != "application/json":
        raise HTTPError(415, "only acceptable Content-Type is application/json")


def _decode(body: bytes) -> Any:
    """Go's ``json.Decoder.Decode``: the first JSON value; its error words."""
    text = body.decode("utf-8", "replace")
    stripped = text.strip()
    if not stripped:
        raise HTTPError(400, "unable to decode body: EOF")
    try:
        value, _end = json.JSONDecoder().raw_decode(text.lstrip())
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.lstrip().rstrip()):
            raise HTTPError(400, "unable to decode body: unexpected EOF") from None
        raise HTTPError(400, f"unable to decode body: invalid character {exc.doc[exc.pos]!r} ({exc.msg})") from None
    return value


def _go_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), "null")


def _validate_name(name: str) -> None:
    if not name:
        raise HTTPError(400, "unit name cannot be empty")
    if len(name) > 256:
        raise HTTPError(400, "unit name exceeds maximum length (256)")
    dot = name.rfind(".")
    if dot == -1:
        raise HTTPError(400, 'unit name must contain "."')
    if dot == len(name) - 1:
        raise HTTPError(400, 'unit name cannot end in "."')
    suffix = name[dot + 1:]
    if suffix not in UNIT_TYPES:
        raise HTTPError(400, f"invalid unit type: {json.dumps(suffix)}")
    for char in name[:dot]:
        if char not in VALID_CHARS:
            raise HTTPError(400, f"invalid character {char!r} in unit name")
    if name.startswith("@"):
        raise HTTPError(400, 'unit name cannot start in "@"')
    if name[:dot].endswith("@") and suffix not in TEMPLATE_TYPES:
        raise HTTPError(400, f"invalid unit type for a template: {json.dumps(suffix)}")


def _validate_options(options: list[dict[str, str]]) -> None:
    """fleet's ``ValidateOptions``: X-Fleet rules that can never be met together."""
    def values(name: str) -> list[str]:
        return option_values(options, "X-Fleet", name)

    target, peers, conflicts, replaces = values("MachineID"), values("MachineOf"), values("Conflicts"), \
        values("Replaces")
    is_global = any(v.strip().lower() in ("true", "1", "yes") for v in values("Global"))
    for peer in peers:
        for glob in conflicts + replaces:
            if fnmatch.fnmatchcase(peer, glob):
                raise HTTPError(400, f"unresolvable requirements: peer {json.dumps(peer)} matches conflict "
                                     f"{json.dumps(glob)}")
    rules = [(target and peers, "MachineID cannot be used with Peers"),
             (target and conflicts, "MachineID cannot be used with Conflicts"),
             (target and is_global, "MachineID cannot be used with Global"),
             (target and replaces, "MachineID cannot be used with Replaces"),
             (is_global and peers, "Global cannot be used with Peers"),
             (is_global and replaces, "Global cannot be used with Replaces"),
             (conflicts and replaces, "Conflicts cannot be used with Replaces")]
    for broken, message in rules:
        if broken:
            raise HTTPError(400, message)


# -- the HTTP servers -------------------------------------------------------------------------------

def _handler(emulator: FleetEmulator) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers: dict[str, list[str]] = {}
            for key, value in self.headers.items():
                headers.setdefault(key.lower(), []).append(value)
            response = emulator.handle(self.command, self.path, headers, body)
            self.send_response_only(response.status)
            for key, value in response.headers.items():
                self.send_header(key, value)
            if response.status not in (204, 304) and "Content-Length" not in response.headers:
                self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if response.body:
                self.wfile.write(response.body)

        do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _any

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

    return Handler


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class _UnixServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    def get_request(self):  # type: ignore[no-untyped-def]
        conn, _addr = super().get_request()
        return conn, ("unix", 0)
