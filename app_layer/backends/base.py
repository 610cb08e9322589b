"""The scheduler contract: what the controller asks of every backend, and what each verb guarantees.

The controller decides *what* should run (a ``ReleaseSpec`` and a formation); a backend makes it
so. Backends hold no platform state of their own beyond what the engine keeps: everything they
need is in the arguments, and everything they observe is returned as ``Process`` values that the
reconciler writes to the database. A backend that cannot do a verb says so in ``capabilities``
and raises ``NotSupported``; it never pretends.
"""
from __future__ import annotations

import abc
import enum
from collections.abc import Iterator
from dataclasses import dataclass, field

ROUTABLE_TYPES = frozenset({"web", "cmd"})


class Capability(enum.Enum):
    HEALTH_CHECKS = "health_checks"    # rollouts wait for health before stopping old processes
    ROLLING_DEPLOY = "rolling_deploy"  # new processes start before old ones stop
    RUN = "run"                        # one-off commands
    LOGS = "logs"                      # process output
    RESTART = "restart"


@dataclass(frozen=True)
class HealthCheck:
    """From the config values ``HEALTHCHECK_URL``, ``HEALTHCHECK_TIMEOUT``, ``HEALTHCHECK_INITIAL_DELAY``.

    No ``url`` means a TCP connect to ``PORT``.
    """

    url: str = ""
    timeout: float = 1.0
    initial_delay: float = 0.0
    interval: float = 0.5


@dataclass(frozen=True)
class ReleaseSpec:
    """Everything a backend needs to run one release of an app. Pure data, built by the domain."""

    app: str
    version: int
    image: str                          # image reference the engine can pull or already has
    procfile: dict[str, str]            # process type -> command ("" for the image's own CMD)
    env: dict[str, str]                 # config values plus PORT and the APP_LAYER_/DEIS_ names
    memory: dict[str, str] = field(default_factory=dict)  # process type -> limit ("512M")
    cpu: dict[str, int] = field(default_factory=dict)     # process type -> CPU shares (0-1024)
    tags: dict[str, str] = field(default_factory=dict)
    healthcheck: HealthCheck = HealthCheck()
    port: int | None = None             # PORT; None lets the backend use the image's EXPOSE or 5000
    dockerfile: bool = False            # True: commands run under a shell; False: buildpack ``start``

    def command(self, process_type: str) -> str:
        return self.procfile.get(process_type, "")

    def name(self, process_type: str, num: int) -> str:
        """Deis job name: ``<app>_v<N>.<type>.<num>``."""
        return f"{self.app}_v{self.version}.{process_type}.{num}"


class State(enum.StrEnum):
    """Deis container states (``api/models.py``), plus ``unknown`` when the engine cannot be asked."""

    INITIALIZED = "initialized"
    CREATED = "created"
    STARTING = "starting"
    UP = "up"
    DOWN = "down"
    CRASHED = "crashed"
    DESTROYED = "destroyed"
    ERROR = "error"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Process:
    """One process as observed on the engine."""

    app: str
    version: int
    type: str
    num: int
    state: State
    healthy: bool | None = None   # None: not checked (yet)
    host: str = ""                # where ``port`` is reachable from the router
    port: int | None = None
    backend_id: str = ""          # container id, task id, unit name ...

    @property
    def routable(self) -> bool:
        return self.type in ROUTABLE_TYPES and self.state is State.UP and self.healthy is not False


@dataclass(frozen=True)
class LogLine:
    time: float        # seconds since the epoch
    source: str        # "web.1", "run.3", "app-layer" ...
    message: str


class Backend(abc.ABC):
    """A scheduler. One instance per platform process, built by ``backends.create``.

    Implementations connect lazily: constructing one must not contact the engine, so the API
    starts and answers even when the engine is down; verbs raise ``Unavailable`` then.
    """

    name: str = ""
    capabilities: frozenset[Capability] = frozenset()

    @abc.abstractmethod
    def deploy(self, release: ReleaseSpec, formation: dict[str, int], timeout: float) -> None:
        """Make ``formation`` processes of ``release`` run, and nothing else of that app.

        Blocks until the new processes are up (and healthy, with ``HEALTH_CHECKS``) or ``timeout``
        seconds pass. With ``ROLLING_DEPLOY`` the old release's processes are stopped only after the
        new ones are healthy. Calling it again with the same arguments changes nothing (so it is
        also how a formation is scaled). On failure it raises ``RolloutFailed``, leaving the
        processes that were serving before untouched.
        """

    @abc.abstractmethod
    def destroy(self, app: str) -> None:
        """Remove every process, image and record the engine has of ``app``. Idempotent."""

    @abc.abstractmethod
    def processes(self, app: str | None = None) -> list[Process]:
        """What runs now, for one app or all; raises ``Unavailable`` when the engine is down."""

    def restart(self, app: str, process_type: str | None = None, num: int | None = None) -> list[Process]:
        """Restart matching processes of the running release in place; returns them."""
        raise NotImplementedError

    def run(self, release: ReleaseSpec, command: str, timeout: float) -> tuple[int, str]:
        """Run ``command`` in a throwaway process of ``release``; return (exit code, output)."""
        raise NotImplementedError

    def logs(self, app: str, lines: int) -> list[LogLine]:
        """The last ``lines`` lines of the app's output, oldest first, across current and replaced processes."""
        raise NotImplementedError

    def follow(self, app: str) -> Iterator[LogLine]:
        """New output lines of the app as they are written (blocking iterator)."""
        raise NotImplementedError

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release connections and threads."""
