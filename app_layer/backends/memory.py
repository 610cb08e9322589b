"""The in-memory backend: a real, registered scheduler whose processes are records in memory.

It keeps the full contract (rollouts, scaling, restart, run, logs) without an engine, for
tests, demos and API benchmarks. ``fail_health`` injects a rollout failure, as Deis's chaos
scheduler did, through the same seam production uses.
"""
from __future__ import annotations

import threading
import time
from dataclasses import replace

from app_layer.backends.base import Backend, Capability, LogLine, Process, ReleaseSpec, State
from app_layer.errors import NotFound, RolloutFailed


class MemoryBackend(Backend):
    name = "memory"
    capabilities = frozenset(Capability)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._procs: dict[str, dict[tuple[str, int], Process]] = {}
        self._releases: dict[str, ReleaseSpec] = {}
        self._logs: dict[str, list[LogLine]] = {}
        #: app ids whose next rollouts fail their health check
        self.fail_health: set[str] = set()

    def deploy(self, release: ReleaseSpec, formation: dict[str, int], timeout: float) -> None:
        if release.app in self.fail_health:
            raise RolloutFailed(
                f"{release.app} v{release.version}: processes did not become healthy within {timeout:g}s"
            )
        with self._lock:
            procs = {
                (ptype, num): Process(release.app, release.version, ptype, num, State.UP, True,
                                      "127.0.0.1", None, release.name(ptype, num))
                for ptype, count in formation.items() for num in range(1, count + 1)
            }
            previous = self._releases.get(release.app)
            self._procs[release.app] = procs
            self._releases[release.app] = release
            if previous is None or previous.version != release.version:
                self._log(release.app, "app-layer", f"deployed v{release.version}")

    def destroy(self, app: str) -> None:
        with self._lock:
            self._procs.pop(app, None)
            self._releases.pop(app, None)
            self._logs.pop(app, None)

    def processes(self, app: str | None = None) -> list[Process]:
        with self._lock:
            apps = [app] if app is not None else list(self._procs)
            return [p for a in apps for p in self._procs.get(a, {}).values()]

    def crash(self, app: str, process_type: str, num: int) -> None:
        """Fault injection: the process dies, as a container would; the next deploy replaces it."""
        with self._lock:
            proc = self._procs.get(app, {}).get((process_type, num))
            if proc is not None:
                self._procs[app][(process_type, num)] = replace(proc, state=State.CRASHED, healthy=False)

    def restart(self, app: str, process_type: str | None = None, num: int | None = None) -> list[Process]:
        with self._lock:
            matched = [p for p in self._procs.get(app, {}).values()
                       if process_type in (None, p.type) and num in (None, p.num)]
            for proc in matched:
                self._log(app, f"{proc.type}.{proc.num}", "restarted")
            return matched

    def run(self, release: ReleaseSpec, command: str, timeout: float) -> tuple[int, str]:
        if not release.image:
            raise NotFound("No build associated with this release to run this command")
        self._log(release.app, "run", f"ran {command!r}")
        return 0, f"{command}\n"

    def logs(self, app: str, lines: int) -> list[LogLine]:
        with self._lock:
            return list(self._logs.get(app, [])[-lines:]) if lines > 0 else []

    def _log(self, app: str, source: str, message: str) -> None:
        self._logs.setdefault(app, []).append(LogLine(time.time(), source, message))
