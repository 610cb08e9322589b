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

The engine and the agents (``fleet_cluster.Cluster``, which this emulator extends) run in a
background thread when ``auto`` is on; with it off, a test moves the cluster by hand (``schedule``,
``report_state``, ``heartbeat``), as the recording did. What a launched unit *does* is a runner's
business (``fleet_runners``): ``FakeRunner`` (starts, hangs or fails by name pattern) or
``DockerRunner``, which runs the unit's ``ExecStartPre``/``ExecStart``/``ExecStop`` lines, split by
systemd's rules, against the real dockerd.
"""
from __future__ import annotations

import base64
import fnmatch
import http.server
import json
import os
import socketserver
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema

from tests.emulators.fleet_cluster import Cluster, Machine, Unit, UnitState, unit_hash
from tests.emulators.fleet_runners import DockerRunner, FakeRunner, Runner, option_values, systemd_split

__all__ = ["DockerRunner", "FakeRunner", "FleetEmulator", "Machine", "Runner", "UnitState", "discovery_bytes",
           "schema_validator", "systemd_split"]

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = Path(os.environ.get("FLEET_SCHEMA_DIR") or ROOT.parent / "shared" / "fleet-schema")
PREFIXES = ("/fleet/v1", "/v1-alpha")
STATES = ("inactive", "loaded", "launched")
UNIT_TYPES = {"service", "socket", "busname", "target", "snapshot", "device", "mount", "automount", "swap",
              "timer", "path", "slice", "scope"}
TEMPLATE_TYPES = {"path", "service", "socket", "target", "timer"}
VALID_CHARS = set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ:-_.\\@")
UNAVAILABLE = "fleet server unable to communicate with etcd"


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


class HTTPError(Exception):
    def __init__(self, code: int, message: str = ""):
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes = b""


# -- the emulator -----------------------------------------------------------------------------------

class FleetEmulator(Cluster):
    """fleetd's API v1 in front of a ``Cluster``; serve it with ``serve_tcp`` / ``serve_unix``."""

    def __init__(self, *, token_limit: int = 100, auto: bool = True, runner: Runner | None = None,
                 tick: float = 0.05, unload_delay: float = 0.1, restart_delay: float = 0.1,
                 start_limit: int = 5, version: str = "v1.0.0"):
        self.token_limit = token_limit
        self.server = f"fleetd/{version}"
        self.available = True
        self.requests: list[tuple[str, str, bytes]] = []   # (method, path and query, body) of every request
        self.answers: list[tuple[str, str, int]] = []      # (method, path and query, status) of every answer
        self._unit_validator = schema_validator("Unit")
        self._discovery = discovery_bytes()
        self._servers: list[socketserver.BaseServer] = []
        super().__init__(auto=auto, runner=runner, tick=tick, unload_delay=unload_delay,
                         restart_delay=restart_delay, start_limit=start_limit)

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
        for server in self._servers:
            server.shutdown()
            server.server_close()
        super().close()


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
