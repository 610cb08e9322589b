"""Upstreams for router tests: real HTTP and WebSocket servers on loopback threads, and a memory
backend whose processes answer on those servers' ports, with health the test controls."""
from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from app_layer.backends.base import Process
from app_layer.backends.memory import MemoryBackend


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Upstream:
    """An HTTP server answering JSON {name, path, headers, body}; ``/slow`` waits 3 s."""

    def __init__(self, name: str):
        self.name = name
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode(errors="replace") if length else ""
                if self.path == "/slow":
                    time.sleep(3)
                data = json.dumps({"name": outer.name, "path": self.path, "headers": dict(self.headers),
                                   "body": body}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class RoutedMemoryBackend(MemoryBackend):
    """The memory backend, with each process answering on a port the test gives it."""

    def __init__(self) -> None:
        super().__init__()
        self.ports: dict[tuple[str, str, int], int] = {}   # (app, type, num) -> port
        self.unhealthy: set[tuple[str, str, int]] = set()

    def processes(self, app: str | None = None) -> list[Process]:
        out = []
        for proc in super().processes(app):
            key = (proc.app, proc.type, proc.num)
            out.append(replace(proc, port=self.ports.get(key), healthy=key not in self.unhealthy))
        return out


class RouterLoad:
    """``clients`` threads GETting ``path`` of ``host`` through the router until the block ends,
    counting answers and recording every non-200 answer or connection error."""

    def __init__(self, port: int, host: str, clients: int, path: str = "/health"):
        self.url, self.host = f"http://127.0.0.1:{port}{path}", host
        self.count = 0
        self.failures: list[str] = []
        self._done = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def _run(self) -> None:
        session = requests.Session()
        while not self._done.is_set():
            try:
                answer = session.get(self.url, headers={"Host": self.host}, timeout=10)
                if answer.status_code != 200:
                    self.failures.append(f"{answer.status_code} {answer.text[:80]}")
            except requests.RequestException as exc:
                self.failures.append(str(exc))
            self.count += 1

    def more(self, n: int) -> Callable[[], bool]:
        """A condition: ``n`` more answers than now (to keep the load on across a moment)."""
        target = self.count + n
        return lambda: self.count >= target

    def __enter__(self) -> RouterLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        for thread in self._threads:
            thread.join(15)
