"""The route registry: where the publisher writes which processes serve an app, and the router reads.

One contract, three drivers, picked by the URL in ``APP_LAYER_ROUTES``:

* ``embedded`` - a table in the platform database (the single-host default);
* ``zookeeper://host:port/prefix`` - ephemeral znodes through kazoo;
* ``etcd://host:port/prefix`` - etcd v3 keys attached to a lease kept alive by the driver.

Layout under the prefix: ``<app>/<process>`` (``web.1``) holding JSON ``{host, port, release,
type, num}``. A registration belongs to the registry client that made it: the ZooKeeper and etcd
drivers remember their own and write them again after a lost session or lease, so a publisher
that dies takes its routes with it (the embedded table keeps them until the next publisher syncs).
"""
from __future__ import annotations

import abc
import json
import re
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

APP_RE = re.compile(r"^[a-z0-9-]+$")
PROCESS_RE = re.compile(r"^[a-z0-9_-]+\.[0-9]+$")


class RegistryError(ValueError):
    """``APP_LAYER_ROUTES`` names no driver we have, or a driver's URL is malformed."""


@dataclass(frozen=True, order=True)
class Route:
    """One routable process: requests for ``app`` may go to ``host:port``."""

    app: str
    type: str
    num: int
    host: str
    port: int
    release: int

    @property
    def process(self) -> str:
        return f"{self.type}.{self.num}"

    @property
    def key(self) -> tuple[str, str]:
        return (self.app, self.process)

    def to_json(self) -> str:
        data = asdict(self)
        del data["app"]
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, app: str, raw: str | bytes) -> Route:
        data = json.loads(raw)
        return cls(app=app, type=str(data["type"]), num=int(data["num"]), host=str(data["host"]),
                   port=int(data["port"]), release=int(data["release"]))


def validate_key(app: str, process: str) -> None:
    """Registry keys become paths: refuse anything that could escape the prefix."""
    if not APP_RE.match(app):
        raise RegistryError(f"app: must match {APP_RE.pattern}, not {app!r}")
    if not PROCESS_RE.match(process):
        raise RegistryError(f"process: must look like web.1, not {process!r}")


Callback = Callable[[], None]


class Watch:
    """A running watch; ``stop()`` ends it. Drivers run the callback on a thread of their own."""

    def __init__(self) -> None:
        self.stopped = threading.Event()

    def stop(self) -> None:
        self.stopped.set()


class RouteRegistry(abc.ABC):
    """Where routes live. Every verb is idempotent; none blocks longer than the backing store does."""

    url: str = ""

    @abc.abstractmethod
    def register(self, route: Route) -> None:
        """Create or replace the route at ``route.app``/``route.process``, owned by this client."""

    @abc.abstractmethod
    def deregister(self, app: str, process: str) -> None:
        """Remove the route; removing an absent route is not an error."""

    @abc.abstractmethod
    def list(self, app: str | None = None) -> list[Route]:
        """Every registered route (of one app), sorted, as the store has them now."""

    @abc.abstractmethod
    def watch(self, callback: Callback) -> Watch:
        """Call ``callback()`` soon after any change (and once at the start, and after a reconnect).

        The callback carries no data: it is a hint to read ``list()`` again, so a missed or
        doubled notification never leaves a reader wrong for longer than its next call.
        """

    def close(self) -> None:  # noqa: B027 - drivers that hold nothing need not override
        """Release connections and threads; routes this client owned may disappear (ephemeral)."""


def open_registry(url: str, database_url: str | None = None) -> RouteRegistry:
    """The driver for ``url`` (``APP_LAYER_ROUTES``); ``embedded`` needs the platform's database URL."""
    if url == "embedded":
        from app_layer.routing.embedded import EmbeddedRegistry

        if not database_url:
            raise RegistryError("APP_LAYER_ROUTES=embedded needs the platform database")
        return EmbeddedRegistry(database_url)
    parts = urlsplit(url)
    if parts.scheme not in ("zookeeper", "etcd") or not parts.hostname:
        raise RegistryError(
            f"APP_LAYER_ROUTES: must be embedded, zookeeper://host:port/prefix or etcd://host:port/prefix, not {url!r}")
    prefix = "/" + parts.path.strip("/") if parts.path.strip("/") else "/app-layer/routes"
    if parts.scheme == "zookeeper":
        from app_layer.routing.zookeeper import ZooKeeperRegistry

        return ZooKeeperRegistry(f"{parts.hostname}:{parts.port or 2181}", prefix)
    from app_layer.routing.etcd import EtcdRegistry

    return EtcdRegistry(parts.hostname, parts.port or 2379, prefix)
