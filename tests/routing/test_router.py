"""The router end to end: memory backend -> publisher -> embedded registry -> nginx -> real upstreams."""
from __future__ import annotations

import datetime
import json
import os
import socket
import subprocess
import threading
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.sync.client import connect as ws_connect
from websockets.sync.server import serve as ws_serve

from app_layer.api import create_app
from app_layer.models import App, Certificate, Domain, User
from app_layer.routing.nginx import NginxProcess, RouterConfig, render
from app_layer.routing.registry import Route
from tests.conftest import register
from tests.routing.conftest import DOMAIN, wait_until
from tests.routing.helpers import free_port


@pytest.fixture
def owner(routed):  # type: ignore[no-untyped-def]
    client = create_app(routed).test_client()
    register(client, "admin")
    return register(client, "owner")


def deploy(owner, app: str, procfile: dict[str, str] | None = None) -> None:  # type: ignore[no-untyped-def]
    response = owner.post(f"/v1/apps/{app}/builds", {"image": "example/web:1", "sha": "ab" * 20,
                                                     "procfile": procfile or {"web": "serve"}})
    assert response.status_code == 201, response.json


def test_new_app_becomes_routable_once_healthy_and_endpoints_change_without_reload(
        owner, backend, upstream, make_router) -> None:
    router = make_router()
    app = owner.create_app("shop")
    first, second = upstream("first"), upstream("second")
    backend.ports[(app, "web", 1)] = first.port
    backend.ports[(app, "web", 2)] = second.port
    backend.unhealthy.add((app, "web", 1))
    deploy(owner, app)
    host = f"{app}.{DOMAIN}"
    assert router.get(host).status_code == 503  # deployed, not healthy yet: nothing to send to
    workers = router.workers()
    backend.unhealthy.clear()
    response = wait_until(lambda: (r := router.get(host, "/hello")).status_code == 200 and r, deadline=20,
                          what="the app to become routable")
    seen = response.json()
    assert seen["name"] == "first" and seen["path"] == "/hello"
    assert seen["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert seen["headers"]["X-Forwarded-Proto"] == "http"
    assert seen["headers"]["Host"] == host
    assert len(seen["headers"]["X-Request-Id"]) == 32
    assert response.headers["X-Request-Id"] == seen["headers"]["X-Request-Id"]
    assert router.get(host, headers={"X-Request-Id": "abc-123"}).json()["headers"]["X-Request-Id"] == "abc-123"

    assert owner.post(f"/v1/apps/{app}/scale", {"web": 2}).status_code == 204
    wait_until(lambda: {router.get(host).json()["name"] for _ in range(4)} == {"first", "second"},
               deadline=20, what="both processes to serve")
    backend.unhealthy.add((app, "web", 1))  # turns unhealthy: deregistered, no request reaches it
    wait_until(lambda: len(router.registry.list(app)) == 1, what="the unhealthy process to be deregistered")
    wait_until(lambda: {router.get(host).json()["name"] for _ in range(4)} == {"second"},
               what="requests to avoid the unhealthy process")
    assert router.workers() == workers  # no reload for any endpoint change


def test_retries_another_process_after_a_connection_error(upstream, make_router) -> None:
    router = make_router(publish=False)
    alive = upstream("alive")
    dead = socket.socket()  # bound, never listening: connections are refused, and no one else takes the port
    dead.bind(("127.0.0.1", 0))
    router.registry.register(Route("retry", "web", 1, "127.0.0.1", dead.getsockname()[1], 1))
    router.registry.register(Route("retry", "web", 2, "127.0.0.1", alive.port, 1))
    wait_until(lambda: any(line.startswith("retry ") and len(line.split()) == 3
                           for line in router.router.endpoints().splitlines()),
               what="the endpoints to reach nginx")
    try:
        for _ in range(10):
            response = router.get(f"retry.{DOMAIN}")
            assert response.status_code == 200 and response.json()["name"] == "alive"
    finally:
        dead.close()


def test_health_unknown_hosts_controller_timeout_and_body_limit(upstream, make_router) -> None:
    controller = upstream("controller")
    router = make_router(controller=f"127.0.0.1:{controller.port}", publish=False, timeout=1.0, body_size="1k")
    assert router.get("127.0.0.1", "/healthz").text.strip() == "ok"
    assert router.get("elsewhere.invalid").status_code == 404
    assert router.get(f"app-layer.{DOMAIN}", "/v1/").json()["name"] == "controller"
    assert router.get(DOMAIN).json()["name"] == "controller"
    app = upstream("slow")
    router.registry.register(Route("slow", "web", 1, "127.0.0.1", app.port, 1))
    wait_until(lambda: router.get(f"slow.{DOMAIN}").status_code == 200, what="the slow app")
    assert router.get(f"slow.{DOMAIN}", "/slow").status_code == 504
    assert router.get(f"slow.{DOMAIN}", method="POST", data="x" * 2048).status_code == 413
    assert router.get(f"slow.{DOMAIN}", method="POST", data="x" * 512).json()["body"] == "x" * 512


def test_websocket_through_the_router(make_router) -> None:
    router = make_router(publish=False)

    def echo(ws) -> None:  # type: ignore[no-untyped-def]
        for message in ws:
            ws.send(f"echo: {message}")

    with ws_serve(echo, "127.0.0.1", 0) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        router.registry.register(Route("chat", "web", 1, "127.0.0.1", server.socket.getsockname()[1], 1))
        wait_until(lambda: router.get(f"chat.{DOMAIN}").status_code in (400, 426), what="the websocket app")
        sock = socket.create_connection(("127.0.0.1", router.cfg.http_port))
        with ws_connect(f"ws://chat.{DOMAIN}/socket", sock=sock, open_timeout=10) as ws:
            ws.send("hello")
            assert ws.recv(timeout=10) == "echo: hello"
            ws.send("again")
            assert ws.recv(timeout=10) == "echo: again"
        server.shutdown()


def self_signed(name: str, tmp: Path) -> tuple[str, str, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    path = tmp / f"{name}.pem"
    path.write_text(pem)
    return pem, key_pem, path


def curl(*args: str) -> tuple[int, str]:
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "--max-time", "10",
                          *args], capture_output=True, text=True, timeout=30)
    status, _, location = out.stdout.partition(" ")
    return int(status or 0), location


def test_custom_domain_with_tls_and_a_broken_certificate_refused(owner, backend, upstream, make_router,
                                                                  routed, tmp_path) -> None:
    router = make_router()
    app = owner.create_app("store")
    server = upstream("store")
    backend.ports[(app, "web", 1)] = server.port
    deploy(owner, app)
    assert owner.post(f"/v1/apps/{app}/domains", {"domain": "www.store.test"}).status_code == 201
    wait_until(lambda: router.get("www.store.test").status_code == 200, deadline=20,
               what="the custom domain over HTTP")
    workers = router.workers()
    pem, key, ca = self_signed("www.store.test", tmp_path)
    response = owner.post("/v1/certs", {"certificate": pem, "key": key})
    assert response.status_code == 201, response.json
    tls = router.cfg.tls_port
    resolve = ["--resolve", f"www.store.test:{tls}:127.0.0.1", "--cacert", str(ca)]
    wait_until(lambda: curl(*resolve, f"https://www.store.test:{tls}/")[0] == 200, deadline=20,
               what="the custom domain over HTTPS")
    assert router.workers() != workers  # a new certificate is a reload
    plain = ["--resolve", f"www.store.test:{router.cfg.http_port}:127.0.0.1",
             f"http://www.store.test:{router.cfg.http_port}/path?q=1"]
    # old workers finish the connections they took before the reload: wait for the new ones
    wait_until(lambda: curl(*plain) == (301, f"https://www.store.test:{tls}/path?q=1"), what="the redirect")

    # A certificate nginx cannot load (written behind the API's back) is refused by `nginx -t`;
    # the router keeps serving the last good configuration.
    applied = router.router.applied
    with routed.db.write() as session:
        user = session.query(User).filter_by(username="owner").one()
        app_row = session.query(App).filter_by(id=app).one()
        session.add(Domain(app_uuid=app_row.uuid, owner_id=user.id, domain="broken.store.test"))
        session.add(Certificate(owner_id=user.id, common_name="broken.store.test", certificate="not a certificate",
                                key="not a key", expires=datetime.datetime(2030, 1, 1)))
    wait_until(lambda: router.router.last_error, what="nginx to refuse the render")
    assert "broken" in router.router.refused and router.router.applied == applied
    assert curl(*resolve, f"https://www.store.test:{tls}/")[0] == 200
    assert router.get(f"{app}.{DOMAIN}").json()["name"] == "store"
    assert os.stat(router.cfg.prefix / "certs").st_mode & 0o077 == 0  # keys are not readable by others
    assert json.loads(json.dumps(router.router.last_error))


def test_router_follows_every_registry_driver(registry_factory, upstream, make_router) -> None:
    """The same router on the embedded table, ZooKeeper and etcd: a registration is served, a
    deregistration stops being served, without a reload."""
    writer = registry_factory()
    router = make_router(publish=False, registry=registry_factory())
    workers = router.workers()
    server = upstream("anywhere")
    writer.register(Route("roaming", "web", 1, "127.0.0.1", server.port, 1))
    wait_until(lambda: router.get(f"roaming.{DOMAIN}").status_code == 200, what="the route to be served")
    writer.deregister("roaming", "web.1")
    wait_until(lambda: router.get(f"roaming.{DOMAIN}").status_code == 503, what="the route to be withdrawn")
    assert router.workers() == workers


def test_a_new_router_replaces_the_nginx_a_killed_router_left_behind(tmp_path, nginx_binary) -> None:
    cfg = RouterConfig(prefix=tmp_path / "router", domain=DOMAIN, http_port=free_port(), tls_port=free_port(),
                       workers="1")
    first = NginxProcess(cfg.prefix)
    first.apply(render([], [], cfg), {})
    orphan = first.proc
    assert orphan is not None
    second = NginxProcess(cfg.prefix)  # the router was killed: a new one starts on the same folder
    try:
        second.apply(render([], [], cfg), {})
        assert orphan.wait(10) == 0  # the leftover was asked to quit, and did
        assert requests.get(f"http://127.0.0.1:{cfg.http_port}/healthz", timeout=5).text.strip() == "ok"
    finally:
        second.stop()
