"""How the Marathon emulator runs tasks: simulated (a clock decides), or as real Docker containers.

A runner is told to start and kill tasks and answers through callbacks into the cluster, from its own
threads, as a Mesos agent would with status updates. Health checks are the cluster's business (it
probes ``host:port`` itself for container tasks, as Marathon-level HTTP/TCP checks do).
"""
from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import docker
from docker.errors import APIError, NotFound

#: started(task_id, host, ports) / ended(task_id, state, message)
Started = Callable[[str, str, list[int]], None]
Ended = Callable[[str, str, str], None]


class SimulatedRunner:
    """Tasks that run on paper: running after ``stage_delay``, killed after ``kill_delay``."""

    real = False

    def __init__(self, stage_delay: float = 0.02, kill_delay: float = 0.05):
        self.stage_delay = stage_delay
        self.kill_delay = kill_delay
        self._ports = iter(range(31000, 40000))
        self._lock = threading.Lock()

    def start(self, task_id: str, definition: dict[str, Any], started: Started, ended: Ended) -> None:
        with self._lock:
            ports = [next(self._ports) for _ in port_requests(definition)]
        _later(self.stage_delay, started, task_id, "127.0.0.1", ports)

    def kill(self, task_id: str, grace: float, ended: Ended) -> None:
        _later(min(grace, self.kill_delay), ended, task_id, "TASK_KILLED", "killed")

    def close(self) -> None:
        pass


class DockerRunner:
    """Each task is a container on the shared dockerd: unique name, labels, ``PORT`` published on
    127.0.0.1 at a port Docker picks (Marathon's ``hostPort: 0``). Removed when killed or closed."""

    real = True

    def __init__(self, label: str, base_url: str = "unix:///var/run/docker.sock"):
        self.label = label   # value of the ``app-layer.marathon-emulator`` label on every container
        self.api = docker.APIClient(base_url=base_url, version="auto", timeout=60)
        self._pool = ThreadPoolExecutor(4, thread_name_prefix="marathon-docker")
        self._containers: dict[str, str] = {}
        self._lock = threading.Lock()
        self._watch = threading.Thread(target=self._watch_exits, daemon=True)
        self._ended: dict[str, Ended] = {}
        self._stopping: set[str] = set()
        self._closed = False
        self._watch.start()

    def start(self, task_id: str, definition: dict[str, Any], started: Started, ended: Ended) -> None:
        self._pool.submit(self._start, task_id, definition, started, ended)

    def _start(self, task_id: str, definition: dict[str, Any], started: Started, ended: Ended) -> None:
        spec = definition.get("container") or {}
        mappings = spec.get("portMappings") or []
        env = {"MARATHON_APP_ID": definition["id"], "MARATHON_APP_VERSION": definition.get("version", ""),
               "MESOS_TASK_ID": task_id, "HOST": "127.0.0.1", **(definition.get("env") or {})}
        command: Any = definition.get("args") or None
        if definition.get("cmd"):
            command = ["/bin/sh", "-c", definition["cmd"]]
        try:
            ports = [m["containerPort"] for m in mappings]
            host_config = self.api.create_host_config(
                port_bindings={p: ("127.0.0.1", None) for p in ports},
                mem_limit=int(definition.get("mem", 128) * 1024 * 1024) or None)
            created = self.api.create_container(
                spec["docker"]["image"], command=command, name=f"mesos-{task_id[:40]}-{uuid.uuid4().hex[:6]}",
                environment={k: v for k, v in env.items() if isinstance(v, str)}, ports=ports,
                labels={"app-layer.marathon-emulator": self.label, "MESOS_TASK_ID": task_id},
                host_config=host_config)
            cid = created["Id"]
            with self._lock:
                self._containers[task_id] = cid
                self._ended[task_id] = ended
            self.api.start(cid)
            info = self.api.inspect_container(cid)
            bound = info["NetworkSettings"]["Ports"] or {}
            host_ports = [int(bound[f"{p}/tcp"][0]["HostPort"]) for p in ports]
        except (APIError, KeyError, TypeError) as exc:
            ended(task_id, "TASK_FAILED", f"Failed to launch container: {exc}")
            self._remove(task_id)
            return
        started(task_id, "127.0.0.1", host_ports)

    def kill(self, task_id: str, grace: float, ended: Ended) -> None:
        with self._lock:
            self._stopping.add(task_id)
        self._pool.submit(self._kill, task_id, grace, ended)

    def _kill(self, task_id: str, grace: float, ended: Ended) -> None:
        cid = self._containers.get(task_id)
        if cid:
            try:
                self.api.stop(cid, timeout=max(1, int(grace)))
            except (APIError, NotFound):
                pass
        self._remove(task_id)
        ended(task_id, "TASK_KILLED", "killed")

    def _remove(self, task_id: str) -> None:
        with self._lock:
            cid = self._containers.pop(task_id, None)
            self._ended.pop(task_id, None)
        if cid:
            try:
                self.api.remove_container(cid, force=True)
            except (APIError, NotFound):
                pass

    def _watch_exits(self) -> None:
        """A container that exits on its own is a finished or failed task (Marathon replaces it)."""
        while not self._closed:
            time.sleep(0.2)
            with self._lock:
                watched = {t: c for t, c in self._containers.items() if t not in self._stopping}
            for task_id, cid in watched.items():
                try:
                    state = self.api.inspect_container(cid)["State"]
                except (APIError, NotFound):
                    continue
                if state.get("Status") == "exited":
                    code = state.get("ExitCode", 0)
                    ended = self._ended.get(task_id)
                    self._remove(task_id)
                    if ended is not None:
                        ended(task_id, "TASK_FINISHED" if code == 0 else "TASK_FAILED",
                              f"Command exited with status {code}")

    def close(self) -> None:
        self._closed = True
        self._pool.shutdown(wait=True)
        for container in self.api.containers(all=True, filters={"label": f"app-layer.marathon-emulator={self.label}"}):
            try:
                self.api.remove_container(container["Id"], force=True)
            except (APIError, NotFound):
                pass
        self.api.close()


def port_requests(definition: dict[str, Any]) -> list[dict[str, Any]]:
    """The host ports a task gets: its port mappings on a bridge network, its port definitions on the host's."""
    if any(n.get("mode") == "host" for n in definition.get("networks") or [{"mode": "host"}]):
        return list(definition.get("portDefinitions") or [])
    return list((definition.get("container") or {}).get("portMappings") or [])


def _later(delay: float, fn: Callable[..., None], *args: Any) -> None:
    timer = threading.Timer(delay, fn, args)
    timer.daemon = True
    timer.start()
