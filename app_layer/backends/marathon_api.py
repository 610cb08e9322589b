"""The Marathon connection: PyPI ``marathon`` (marathon-python 0.13.0, its last release) behind a small
adapter that fails over between ``MARATHON_URL``s and follows the ``/v2/events`` stream.

Two known faults of 0.13.0 are worked around here, and only here, without forking it:

* its JSON encoders test ``isinstance(obj, collections.Iterable)``, an alias Python 3.10 removed: the
  alias is put back before the import (below);
* its models raise ``TypeError`` on any field they do not know (newer Marathons send ``tasksStats``,
  ``checkResult``, ``tty`` ...): apps, tasks and versions therefore travel as raw JSON through the
  client's own transport (``_do_request``: its error mapping, no model parsing); the model-based
  calls are used only where the payload is fixed (deployments list, rollback, deletes, events raw).
* its event-stream failover reads ``exc.message`` (Python 2) when a connection fails, turning the
  failure into ``AttributeError``: the session we hand it gives its exceptions that attribute.
"""
from __future__ import annotations

import collections
import collections.abc
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import requests

# marathon-python 0.13.0 needs ``collections.Iterable`` (removed in Python 3.10); restore the alias before
# importing it. This is the one place that knows.
if not hasattr(collections, "Iterable"):
    collections.Iterable = collections.abc.Iterable  # type: ignore[attr-defined]

from marathon import MarathonClient  # noqa: E402 - needs the alias above
from marathon.exceptions import (  # noqa: E402
    InternalServerError,
    MarathonError,
    MarathonHttpError,
    NoResponseError,
    NotFoundError,
)

from app_layer.errors import Unavailable  # noqa: E402

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_RETRY = 10.0       # seconds between attempts to re-open the event stream while Marathon is down
KEEP_FINISHED = 1000   # outcomes of recent deployments kept for the deploys that follow them

#: the events a deploy wakes up on (everything else is noise for us)
WATCHED_EVENTS = ("deployment_success", "deployment_failed", "deployment_step_success", "deployment_info",
                  "status_update_event", "health_status_changed_event", "instance_health_changed_event",
                  "unhealthy_instance_kill_event", "event_stream_attached")


class _EventSession(requests.Session):
    """The event-stream session: a read timeout (so a silent connection is noticed and re-opened) and
    exceptions that carry ``.message``, which marathon-python's SSE failover reads."""

    def __init__(self, read_timeout: float):
        super().__init__()
        self.read_timeout = read_timeout

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", (5.0, self.read_timeout))
        try:
            return super().request(*args, **kwargs)
        except requests.exceptions.RequestException as exc:
            exc.message = str(exc)  # type: ignore[attr-defined]
            raise


class MarathonApi:
    """Marathon's REST API over one or more base URLs: a request goes to the URL that answered last,
    and on a connection error (or a 5xx, e.g. a leader election) to the next one."""

    def __init__(self, urls: tuple[str, ...] | list[str], timeout: float = 10.0, event_read_timeout: float = 60.0):
        self.urls = list(urls)
        self._clients = [MarathonClient([url], timeout=timeout, sse_session=_EventSession(event_read_timeout))
                         for url in self.urls]
        self._preferred = 0
        self._lock = threading.Lock()

    def close(self) -> None:
        for client in self._clients:
            client.session.close()
            client.sse_session.close()

    def _down(self) -> str:
        return f"No Marathon answers at {', '.join(self.urls)}; try again when one is back."

    def _call(self, fn: Callable[[MarathonClient], T]) -> T:
        with self._lock:
            start = self._preferred
        last: Exception | None = None
        for i in range(len(self._clients)):
            index = (start + i) % len(self._clients)
            try:
                result = fn(self._clients[index])
            except (NoResponseError, InternalServerError) as exc:
                last = exc
                log.warning("Marathon at %s did not answer, trying the next URL", self.urls[index])
                continue
            with self._lock:
                self._preferred = index
            return result
        raise Unavailable(self._down()) from last

    def request(self, method: str, path: str, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        """A raw JSON request (see the module docstring for why not the models)."""
        data = json.dumps(body) if body is not None else None
        response = self._call(lambda c: c._do_request(method, path, params=params, data=data))
        return response.json() if response.content else {}

    # -- apps ------------------------------------------------------------------------------------

    def apps(self, label: str) -> list[dict[str, Any]]:
        return self.request("GET", "/v2/apps", {"label": label, "embed": "apps.tasks"})["apps"]

    def app(self, app_id: str) -> dict[str, Any] | None:
        try:
            return self.request("GET", f"/v2/apps{app_id}")["app"]
        except NotFoundError:
            return None

    def version(self, app_id: str, version: str) -> dict[str, Any] | None:
        try:
            return self.request("GET", f"/v2/apps{app_id}/versions/{version}")
        except NotFoundError:
            return None

    def put_app(self, app_id: str, body: dict[str, Any], force: bool, partial: bool) -> str:
        """Create or change an app; returns the deployment id."""
        params = {"force": str(force).lower(), "partialUpdate": str(partial).lower()}
        return self.request("PUT", f"/v2/apps{app_id}", params, body)["deploymentId"]

    def rollback_app(self, app_id: str, version: str) -> str:
        return self._call(lambda c: c.rollback_app(app_id, version, force=True))["deploymentId"]

    def restart_app(self, app_id: str) -> str:
        return self._call(lambda c: c.restart_app(app_id, force=True))["deploymentId"]

    def delete_app(self, app_id: str) -> str | None:
        try:
            return self._call(lambda c: c.delete_app(app_id, force=True)).get("deploymentId")
        except NotFoundError:
            return None

    def delete_group(self, group_id: str) -> str | None:
        try:
            return self.request("DELETE", f"/v2/groups{group_id}", {"force": "true"}).get("deploymentId")
        except NotFoundError:
            return None

    def kill_task(self, app_id: str, task_id: str) -> None:
        try:
            self.request("DELETE", f"/v2/apps{app_id}/tasks/{task_id}")
        except NotFoundError:
            pass

    # -- deployments -----------------------------------------------------------------------------

    def deployments(self) -> dict[str, list[str]]:
        """Running deployments: id -> affected app ids."""
        return {d.id: list(d.affected_apps or []) for d in self._call(lambda c: c.list_deployments())}

    def revert(self, deployment_id: str) -> str | None:
        """Marathon's own rollback of a running deployment (a new deployment back to the original)."""
        try:
            return self._call(lambda c: c.delete_deployment(deployment_id)).get("deploymentId")
        except NotFoundError:
            return None

    # -- events ----------------------------------------------------------------------------------

    def events(self, types: tuple[str, ...] = WATCHED_EVENTS) -> Iterator[dict[str, Any]]:
        """The SSE stream of the URL that answers; ends when the connection does."""
        def open_stream(client: MarathonClient) -> tuple[str | None, Iterator[str]]:
            lines = client.event_stream(raw=True, event_types=list(types))
            try:
                return next(lines, None), lines   # the request is made here: a refused connection fails now
            except MarathonHttpError:
                raise
            except MarathonError as exc:          # "No remaining Marathon servers to try"
                raise NoResponseError(str(exc)) from exc

        first, lines = self._call(open_stream)
        if first is None:
            return
        for raw in _chain(first, lines):
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            if isinstance(event, dict):
                yield event


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


class EventWatcher:
    """A thread that follows ``/v2/events`` (re-connecting, on any URL, whenever it drops) and wakes
    waiters on every event. Events are only a signal to re-read state: Marathon drops and reorders them."""

    def __init__(self, api: MarathonApi, retry: float = 0.5):
        self.api = api
        self.retry = retry
        self.generation = 0
        self.connects = 0
        self.finished: OrderedDict[str, str] = OrderedDict()   # deployment id -> "" or why it failed (recent)
        self._listeners: list[threading.Event] = []
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="marathon-events", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        delay = self.retry
        while not self._stop.is_set():
            attached = self.connects
            try:
                for event in self.api.events():
                    if self._stop.is_set():
                        return
                    self._note(event)
            except (Unavailable, MarathonError, MarathonHttpError, requests.exceptions.RequestException) as exc:
                log.info("Marathon event stream: %s", exc)
            # re-open at once after a stream that worked; back off while no Marathon answers
            delay = self.retry if self.connects != attached else min(delay * 2, MAX_RETRY)
            self._stop.wait(delay)

    def _note(self, event: dict[str, Any]) -> None:
        kind = event.get("eventType")
        with self._cond:
            if kind == "event_stream_attached":
                self.connects += 1
            elif kind == "deployment_success":
                self.finished[str(event.get("id"))] = ""
            elif kind == "deployment_failed":
                self.finished[str(event.get("id"))] = str(event.get("reason") or "the deployment was cancelled")
            while len(self.finished) > KEEP_FINISHED:
                self.finished.popitem(last=False)
            self.generation += 1
            self._cond.notify_all()
            listeners = list(self._listeners)
        for listener in listeners:
            listener.set()

    def subscribe(self, wake: threading.Event) -> None:
        """Set ``wake`` on every event (task status, health, deployments): the publisher's early wake-up."""
        with self._cond:
            self._listeners.append(wake)

    def wait(self, generation: int, timeout: float) -> int:
        """Block until an event newer than ``generation`` arrives or ``timeout`` passes; the new generation."""
        with self._cond:
            self._cond.wait_for(lambda: self.generation != generation or self._stop.is_set(), max(0.0, timeout))
            return self.generation

    def close(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
