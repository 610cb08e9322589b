"""A Marathon v2 emulator: the subset of the REST API app-layer and marathon-python use, with Marathon's
behaviour (``../shared/reference/marathon.md``, the RAML and the JSON schema in ``../shared/marathon-schema``).

* Every request body is checked against ``AppDefinition.json`` (Draft 4) plus Marathon's id rules; a
  failing one gets 422 ``{"message": "Object is not valid", "details": [{path, errors}]}``.
* Every change is a deployment (Start / Scale / Restart / Stop steps) that honours ``upgradeStrategy``:
  new tasks start, and each one that turns healthy lets one old task go (``TASK_KILLING`` for the kill
  grace period, then gone). A deployment never fails on its own: unhealthy tasks stall it, as in Marathon.
* An app under a deployment is locked: changes get 409 with Marathon's message unless ``force=true``,
  which cancels the running deployment (``deployment_failed``). ``DELETE /v2/deployments/<id>`` reverts
  it (a rollback deployment to the original definitions); with ``force=true`` it only cancels (202).
* ``/v2/events`` streams SSE (``event:``/``data:`` lines, ``event_stream_attached`` first, ``event_type``
  filter, light deployment plans); ``drop_event_streams()`` ends every open stream, as a leader
  change does.
* Tasks are simulated (healthy ``health_delay`` seconds after they run, or failing when their image is
  in ``unhealthy_images``) or real Docker containers (``DockerRunner``), probed over HTTP or TCP.
* The state and its rules live in ``marathon_cluster.py``, the task runners in ``marathon_tasks.py``;
  this module is the HTTP side. Several ``MarathonServer``s can serve one ``Cluster`` (one leader, the
  others proxy, as Marathon HA does); stopping one makes its URL refuse connections.
"""
from __future__ import annotations

import json
import queue
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from tests.emulators.marathon_cluster import (  # noqa: F401 - APP_SCHEMA is part of this module's API
    APP_SCHEMA,
    INFO_EXAMPLE,
    App,
    Cluster,
    Deployment,
    HttpError,
    Seen,
    absolute,
    now,
    validate,
)


def _flag(query: dict[str, list[str]], name: str, default: bool) -> bool:
    values = query.get(name)
    return default if not values else values[-1].lower() == "true"


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers={"Connection": "close", **(headers or {})},
                    content_type="application/json")


def deployment_result(dep: Deployment, status: int = 200) -> Response:
    return _json(status, {"deploymentId": dep.id, "version": dep.version}, {"Marathon-Deployment-Id": dep.id})


class _Handler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"   # chunked SSE, as Jetty sends it

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class MarathonServer:
    """One Marathon instance on a loopback port, serving a ``Cluster``."""

    def __init__(self, cluster: Cluster, port: int = 0):
        self.cluster = cluster
        self._server: BaseWSGIServer = make_server("127.0.0.1", port, self.wsgi, threaded=True,
                                                   request_handler=_Handler)
        self.port = self._server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.up = False
        self._thread: threading.Thread | None = None

    def start(self) -> MarathonServer:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        self.up = True
        return self

    def stop(self) -> None:
        """The instance goes away: its port refuses connections and its event streams end."""
        if not self.up:
            return
        self.up = False
        self._server.shutdown()
        self._server.server_close()
        self.cluster.drop_event_streams(self)

    # -- HTTP ------------------------------------------------------------------------------------

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        request = Request(environ)
        query = parse_qs(request.query_string.decode(), keep_blank_values=True)
        path = re.sub(r"/+", "/", request.path)
        try:
            body = json.loads(request.get_data() or b"null")
        except ValueError:
            body = None
        self.cluster.requests.append(Seen(request.method, path, query, body))
        try:
            if path == "/v2/events":
                response = self._events(request, query)
            else:
                with self.cluster._lock:
                    response = self._route(request, path, query)
        except HttpError as exc:
            response = _json(exc.status, exc.body)
        return response(environ, start_response)

    def _body(self, request: Request) -> Any:
        try:
            return json.loads(request.get_data() or b"null")
        except ValueError:
            raise HttpError(400, {"message": "Invalid JSON",
                                  "details": [{"path": "/", "errors": ["error.invalid.json"]}]}) from None

    def _route(self, request: Request, path: str, query: dict[str, list[str]]) -> Response:
        method = request.method
        if path == "/ping":
            return Response("pong", content_type="text/plain", headers={"Connection": "close"})
        if path == "/v2/info":
            return _json(200, {**INFO_EXAMPLE, "version": "1.10.26", "elected": True, "leader": self._leader(),
                               "frameworkId": "emulated-framework-0000"})
        if path == "/v2/leader":
            return _json(200, {"leader": self._leader()} if method == "GET" else {"message": "Leadership abdicated"})
        if path == "/v2/queue":
            return _json(200, {"queue": []})
        return self._route_more(request, path, query)

    def _route_more(self, request: Request, path: str, query: dict[str, list[str]]) -> Response:
        c, method = self.cluster, request.method
        if path == "/v2/deployments" and method == "GET":
            return _json(200, [d.json() for d in c.deployments.values()])
        if path.startswith("/v2/deployments/") and method == "DELETE":
            dep = c.deployments.get(path.rsplit("/", 1)[1])
            if dep is None:
                raise HttpError(404, {"message": f"DeploymentPlan {path.rsplit('/', 1)[1]} does not exist"})
            if _flag(query, "force", False):
                c._cancel(dep, "DeploymentCanceledException: The upgrade has been cancelled")
                return Response("", status=202, headers={"Connection": "close"})
            return deployment_result(c.revert(dep))
        if path == "/v2/tasks" and method == "GET":
            wanted = {f"TASK_{s.upper()}" for s in query.get("status", [])}
            tasks = [t.json(bool(t.definition.get("healthChecks"))) for t in c.tasks.values()
                     if not wanted or t.state in wanted]
            return _json(200, {"tasks": tasks})
        if path == "/v2/tasks/delete" and method == "POST":
            body = self._body(request)
            killed = c.kill_tasks(list((body or {}).get("ids") or []), _flag(query, "scale", False))
            return _json(200, {"tasks": [t.json(False) for t in killed]})
        if path == "/v2/apps":
            return self._apps(request, query)
        if path.startswith("/v2/apps/"):
            return self._app(request, path[len("/v2/apps"):], query)
        if path == "/v2/groups" or path.startswith("/v2/groups/"):
            return self._group(request, absolute(path[len("/v2/groups"):]), query)
        raise HttpError(404, {"message": f"Not found: {path}"})

    def _leader(self) -> str:
        leader = next((s for s in _SERVERS.get(id(self.cluster), []) if s.up), self)
        return f"127.0.0.1:{leader.port}"

    def _apps(self, request: Request, query: dict[str, list[str]]) -> Response:
        c = self.cluster
        if request.method == "POST":
            body = self._body(request)
            validate(body)
            if "id" not in body:
                raise HttpError(422, {"message": "Object is not valid",
                                      "details": [{"path": "/id", "errors": ["error.path.missing"]}]})
            dep = c.create_app(body, _flag(query, "force", False))
            app = c.apps[absolute(body["id"])]
            return _json(201, {**c.app_json(app, False), "deployments": [{"id": dep.id}]},
                         {"Location": f"{self.url}/v2/apps{app.id}", "Marathon-Deployment-Id": dep.id})
        if request.method != "GET":
            raise HttpError(405, {"message": "HTTP 405 Method Not Allowed"})
        embed = _embeds(query)
        apps = list(c.apps.values())
        if query.get("id"):
            apps = [a for a in apps if query["id"][-1] in a.id]
        for selector in query.get("label", []):
            apps = [a for a in apps if _selects(selector, a.definition.get("labels") or {})]
        return _json(200, {"apps": [c.app_json(a, "tasks" in embed) for a in sorted(apps, key=lambda a: a.id)]})

    def _app(self, request: Request, rest: str, query: dict[str, list[str]]) -> Response:
        c, method = self.cluster, request.method
        force = _flag(query, "force", False)
        match = re.fullmatch(r"(/.+?)(/tasks(?:/([^/]+))?|/versions(?:/([^/]+))?|/restart)?", rest)
        if not match:
            raise HttpError(404, {"message": f"App '{rest}' does not exist"})
        app_id, suffix = absolute(match.group(1)), match.group(2) or ""
        app = c.apps.get(app_id)
        if suffix == "" and method == "PUT":
            body = self._body(request)
            validate({"id": app_id, **body} if isinstance(body, dict) else body)  # the path names the app
            dep, created = c.put_app(app_id, body, force, _flag(query, "partialUpdate", True))
            return deployment_result(dep, 201 if created else 200)
        if app is None:
            raise HttpError(404, {"message": f"App '{app_id}' does not exist"})
        if suffix == "":
            if method == "GET":
                return _json(200, {"app": c.app_json(app, True)})
            if method == "DELETE":
                return deployment_result(c.delete_apps([app_id], _flag(query, "force", True)))
        elif suffix == "/restart" and method == "POST":
            return deployment_result(c.restart_app(app_id, force))
        elif suffix.startswith("/versions") and method == "GET":
            if match.group(4):
                version = app.versions.get(match.group(4))
                if version is None:
                    raise HttpError(404, {"message": f"App '{app_id}' does not exist in version {match.group(4)}"})
                return _json(200, version)
            return _json(200, {"versions": sorted(app.versions, reverse=True)})
        elif suffix.startswith("/tasks"):
            return self._app_tasks(method, app, match.group(3), query)
        raise HttpError(405, {"message": "HTTP 405 Method Not Allowed"})

    def _app_tasks(self, method: str, app: App, task_id: str | None, query: dict[str, list[str]]) -> Response:
        c = self.cluster
        checks = bool(app.definition.get("healthChecks"))
        if method == "GET" and not task_id:
            return _json(200, {"tasks": [t.json(checks) for t in c._app_tasks(app.id)]})
        if method != "DELETE":
            raise HttpError(405, {"message": "HTTP 405 Method Not Allowed"})
        if task_id and task_id not in c.tasks:
            raise HttpError(404, {"message": f"Task '{task_id}' does not exist"})
        ids = [task_id] if task_id else [t.id for t in c._app_tasks(app.id) if t.active]
        killed = c.kill_tasks(ids, _flag(query, "scale", False))
        if task_id:
            return _json(200, {"task": killed[0].json(checks) if killed else None})
        return _json(200, {"tasks": [t.json(checks) for t in killed]})

    def _group(self, request: Request, group_id: str, query: dict[str, list[str]]) -> Response:
        c = self.cluster
        prefix = group_id.rstrip("/") + "/"
        members = sorted(a for a in c.apps if a.startswith(prefix))
        if request.method == "DELETE":
            if not members:
                raise HttpError(404, {"message": f"Group '{group_id}' does not exist"})
            return deployment_result(c.delete_apps(members, _flag(query, "force", True)))
        if request.method != "GET":
            raise HttpError(405, {"message": "HTTP 405 Method Not Allowed"})
        if group_id != "/" and not members:
            raise HttpError(404, {"message": f"Group '{group_id}' does not exist"})
        embed = _embeds(query)
        direct = [a for a in members if "/" not in a[len(prefix):]]
        subgroups = sorted({prefix + a[len(prefix):].split("/")[0] for a in members if a not in direct})
        return _json(200, {"id": group_id, "apps": [c.app_json(c.apps[a], "tasks" in embed) for a in direct],
                           "groups": [{"id": g, "apps": [], "groups": [], "pods": [], "dependencies": []}
                                      for g in subgroups],
                           "pods": [], "dependencies": [], "version": c._last_version or now()})

    def _events(self, request: Request, query: dict[str, list[str]]) -> Response:
        if "text/event-stream" not in request.headers.get("Accept", ""):
            return Response("<html><body><h2>HTTP ERROR: 405</h2></body></html>", status=405,
                            content_type="text/html", headers={"Connection": "close"})
        types = set(query.get("event_type", []))
        q = self.cluster.subscribe(types, self)
        attached = {"remoteAddress": request.remote_addr, "eventType": "event_stream_attached", "timestamp": now()}

        def stream() -> Iterator[bytes]:
            try:
                if not types or "event_stream_attached" in types:
                    yield _sse(attached)
                while True:
                    try:
                        event = q.get(timeout=0.5)
                    except queue.Empty:
                        if not self.up:
                            return
                        continue
                    if event is None:
                        return
                    yield _sse(event)
            finally:
                self.cluster.unsubscribe(q)

        return Response(stream(), status=200, content_type="text/event-stream",
                        headers={"Cache-Control": "no-cache"}, direct_passthrough=True)


def _sse(event: dict[str, Any]) -> bytes:
    return f"event: {event['eventType']}\ndata: {json.dumps(event)}\n\n".encode()


def _embeds(query: dict[str, list[str]]) -> set[str]:
    """``apps.tasks``, ``app.tasks``, ``group.apps.tasks`` -> ``tasks`` (InfoEmbedResolver)."""
    return {e.split(".")[-1] for e in query.get("embed", [])}


def _selects(selector: str, labels: dict[str, str]) -> bool:
    """Marathon's label selector: ``key``, ``key==value``, ``key!=value``, comma separated (all must hold)."""
    for term in (t.strip() for t in selector.split(",") if t.strip()):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "==" in term:
            key, value = term.split("==", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif term not in labels:
            return False
    return True


_SERVERS: dict[int, list[MarathonServer]] = {}


@dataclass
class Emulator:
    """A cluster and its servers (the first one is the leader while it is up)."""

    cluster: Cluster
    servers: list[MarathonServer]

    @classmethod
    def start(cls, instances: int = 1, **cluster_options: Any) -> Emulator:
        cluster = Cluster(**cluster_options)
        servers = [MarathonServer(cluster).start() for _ in range(instances)]
        _SERVERS[id(cluster)] = servers
        return cls(cluster, servers)

    @property
    def urls(self) -> tuple[str, ...]:
        return tuple(s.url for s in self.servers)

    def wait_for(self, condition: Any, timeout: float = 10.0, what: str = "condition") -> Any:
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            with self.cluster._lock:
                value = condition()
            if value:
                return value
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}")

    def close(self) -> None:
        for server in self.servers:
            server.stop()
        _SERVERS.pop(id(self.cluster), None)
        self.cluster.close()
