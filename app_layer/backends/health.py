"""Health probes of a process: an HTTP GET of ``HEALTHCHECK_URL`` on ``PORT``, or a TCP connect.

Pure network code with no engine knowledge, so every backend that checks health itself (the
Docker backend, the Swarm backend) asks the same question the same way.
"""
from __future__ import annotations

import http.client
import socket
from urllib.parse import urlsplit

from app_layer.backends.base import HealthCheck


def check_path(url: str) -> str:
    """The request path of a ``HEALTHCHECK_URL``: ``/health``, or a full URL's path and query."""
    if not url:
        return ""
    if "://" in url:
        parts = urlsplit(url)
        return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return url if url.startswith("/") else f"/{url}"


def probe(host: str, port: int, check: HealthCheck) -> bool:
    """True when the process answers: HTTP status below 400 for a URL check, an accepted connection else."""
    path = check_path(check.url)
    if not path:
        return tcp_ok(host, port, check.timeout)
    return http_ok(host, port, path, check.timeout)


def tcp_ok(host: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_ok(host: str, port: int, path: str, timeout: float) -> bool:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"User-Agent": "app-layer-healthcheck", "Connection": "close"})
        return conn.getresponse().status < 400
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()
