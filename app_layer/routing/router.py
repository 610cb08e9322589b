"""The router: registry -> nginx's endpoint table (no reload); domains and certificates -> nginx.conf.

Two loops in one process. Each registry change sends the whole endpoint table to nginx's local
admin socket, where the Lua balancer swaps it in. Once a second the router reads the custom
domains and certificates from the platform database and renders the configuration; only when
the text differs is it tested with ``nginx -t`` and loaded, and a refused render leaves the last
good configuration serving.
"""
from __future__ import annotations

import http.client
import logging
import socket
import threading
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import select

from app_layer.db import Database
from app_layer.models import App, Certificate, Domain
from app_layer.routing.nginx import CONTROLLER, Cert, NginxError, NginxProcess, RouterConfig, cert_files, render
from app_layer.routing.registry import Route, RouteRegistry, Watch
from app_layer.settings import Settings

log = logging.getLogger(__name__)


def endpoint_table(routes: Iterable[Route], controller: str | None = None) -> str:
    """The body the balancer's admin endpoint takes: one ``<app> host:port ...`` line per app. Pure."""
    apps: dict[str, list[str]] = {}
    for route in sorted(routes):
        apps.setdefault(route.app, []).append(f"{route.host}:{route.port}")
    if controller:
        apps[CONTROLLER] = [controller]
    return "".join(f"{app} {' '.join(peers)}\n" for app, peers in sorted(apps.items()))


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float = 5.0):
        super().__init__("localhost", timeout=timeout)
        self.path = str(path)

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def admin_request(cfg: RouterConfig, method: str, path: str, body: str = "") -> str:
    """Call nginx's admin server on its unix socket (never reachable from the network)."""
    conn = _UnixConnection(cfg.admin_socket)
    try:
        conn.request(method, path, body=body.encode(), headers={"Content-Type": "text/plain"})
        response = conn.getresponse()
        text = response.read().decode()
        if response.status != 200:
            raise NginxError(f"admin {method} {path}: {response.status} {text.strip()}")
        return text
    finally:
        conn.close()


def read_sources(db: Database) -> tuple[list[tuple[str, str]], list[Cert]]:
    """Custom domains ((host, app) pairs) and certificates, as the platform database has them."""
    with db.read() as session:
        rows = session.execute(select(Domain.domain, App.id).join(App, App.uuid == Domain.app_uuid))
        domains = [(domain, app) for domain, app in rows]
        certs = [Cert(c.common_name, c.certificate, c.key) for c in session.scalars(select(Certificate))]
    return domains, certs


def config_from_settings(settings: Settings, listen: str, prefix: Path | None = None,
                         access_log: bool = True) -> RouterConfig:
    platform_cert = None
    if settings.router_cert:
        platform_cert = Cert(f"*.{settings.domain}", Path(settings.router_cert).read_text(),
                             Path(settings.router_key).read_text())
    return RouterConfig(prefix=prefix or settings.data_dir / "router", domain=settings.domain, listen=listen,
                        http_port=settings.router_port, tls_port=settings.router_tls_port,
                        timeout=settings.router_timeout, body_size=settings.router_body_size,
                        platform_cert=platform_cert, access_log=access_log)


class Router:
    def __init__(self, cfg: RouterConfig, registry: RouteRegistry, db: Database | None,
                 controller: str | None = None, interval: float = 1.0):
        self.cfg = cfg
        self.registry = registry
        self.db = db
        self.controller = controller
        self.interval = interval
        self.nginx = NginxProcess(cfg.prefix)
        self.applied = ""       # the configuration nginx runs
        self.refused = ""       # the last render nginx refused (not tried again until it changes)
        self.last_error = ""
        self._changed = threading.Event()
        self._stopped = threading.Event()
        self.ready = threading.Event()  # set once nginx serves and holds the first endpoint table
        self._watch: Watch | None = None
        self._lock = threading.Lock()

    # -- configuration (reloads) -------------------------------------------------------------

    def reconcile_config(self) -> bool:
        """Render from the database and load it if it changed; True when nginx was (re)loaded."""
        domains, certs = read_sources(self.db) if self.db is not None else ([], [])
        text = render(domains, certs, self.cfg)
        if text in (self.applied, self.refused):
            return False
        try:
            self.nginx.apply(text, cert_files(certs, self.cfg))
        except NginxError as exc:
            self.refused, self.last_error = text, str(exc)
            log.error("nginx refused the new configuration; keeping the last good one: %s", exc)
            if self.applied:
                return False
            # Nothing runs yet: serve without the custom certificates rather than not at all.
            text = render(domains, [], self.cfg)
            self.nginx.apply(text, cert_files([], self.cfg))
        self.applied = text
        self._changed.set()  # the shared dict survives reloads, but a fresh start needs the table
        return True

    # -- endpoints (no reload) ---------------------------------------------------------------

    def push_endpoints(self) -> str:
        body = endpoint_table(self.registry.list(), self.controller)
        admin_request(self.cfg, "POST", "/endpoints", body)
        return body

    def endpoints(self) -> str:
        return admin_request(self.cfg, "GET", "/endpoints")

    # -- loop ----------------------------------------------------------------------------------

    def start(self) -> None:
        """Start nginx with the current configuration and endpoints; returns once it serves."""
        self.reconcile_config()
        self.push_endpoints()
        self._watch = self.registry.watch(self._changed.set)
        threading.Thread(target=self._endpoint_loop, name="router-endpoints", daemon=True).start()
        self.ready.set()

    def _endpoint_loop(self) -> None:
        while not self._stopped.is_set():
            self._changed.wait(5.0)  # also a periodic refresh, in case a notification was lost
            self._changed.clear()
            if self._stopped.is_set():
                return
            try:
                with self._lock:
                    self.push_endpoints()
            except Exception as exc:  # noqa: BLE001 - registry or nginx briefly away: retry soon
                log.warning("updating endpoints failed: %s", exc)
                self._stopped.wait(0.2)
                self._changed.set()

    def run_forever(self) -> None:
        self.start()
        while not self._stopped.wait(self.interval):
            if not self.nginx.running:
                log.error("nginx exited; starting it again")
                self.applied = ""
            try:
                with self._lock:
                    self.reconcile_config()
            except Exception:  # the loop must outlive one bad pass; logged with its trace
                log.exception("router pass failed")

    def stop(self) -> None:
        self._stopped.set()
        self._changed.set()
        if self._watch is not None:
            self._watch.stop()
        self.nginx.stop()
