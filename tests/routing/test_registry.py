"""The route registry contract, run against the embedded table, a real ZooKeeper and a real etcd."""
from __future__ import annotations

import pytest
import requests
from kazoo.client import KazooClient

from app_layer.routing.registry import RegistryError, Route, open_registry
from tests.routing.conftest import Changes, wait_until


def route(app: str = "shop", type_: str = "web", num: int = 1, port: int = 5001, release: int = 2) -> Route:
    return Route(app=app, type=type_, num=num, host="127.0.0.1", port=port, release=release)


def test_register_list_deregister(registry) -> None:
    registry.register(route(num=1, port=5001))
    registry.register(route(num=2, port=5002))
    registry.register(route(app="blog", type_="cmd", num=1, port=6001, release=7))
    assert registry.list("shop") == [route(num=1, port=5001), route(num=2, port=5002)]
    assert [r.process for r in registry.list()] == ["cmd.1", "web.1", "web.2"]
    registry.register(route(num=2, port=5003, release=3))  # replacing is registering again
    assert route(num=2, port=5003, release=3) in registry.list("shop")
    registry.deregister("shop", "web.1")
    registry.deregister("shop", "web.1")  # idempotent
    assert registry.list("shop") == [route(num=2, port=5003, release=3)]
    assert registry.list("nothing-here") == []


def test_another_client_sees_changes_through_watch(registry_factory) -> None:
    writer, reader = registry_factory(), registry_factory()
    changes = Changes()
    watch = reader.watch(changes)
    try:
        wait_until(lambda: changes.count >= 1, what="the first notification")
        before = changes.count
        writer.register(route(app="watched", port=7001))
        wait_until(lambda: changes.count > before, what="a notification after register")
        assert reader.list("watched") == [route(app="watched", port=7001)]
        before = changes.count
        writer.deregister("watched", "web.1")
        wait_until(lambda: changes.count > before, what="a notification after deregister")
        assert reader.list("watched") == []
    finally:
        watch.stop()


def test_keys_cannot_escape_the_prefix(registry) -> None:
    with pytest.raises(RegistryError, match="app"):
        registry.register(route(app="../etc"))
    with pytest.raises(RegistryError, match="process"):
        registry.deregister("shop", "web/1")


def test_unknown_registry_url_is_refused() -> None:
    with pytest.raises(RegistryError, match="APP_LAYER_ROUTES"):
        open_registry("consul://127.0.0.1:8500/routes")


def test_zookeeper_routes_are_ephemeral_and_come_back_after_session_expiry(zookeeper) -> None:
    url = f"zookeeper://{zookeeper.hosts}/expiry/routes"
    publisher, reader = open_registry(url), open_registry(url)
    try:
        publisher.register(route(app="lasting", port=7101))
        publisher.register(route(app="lasting", num=2, port=7102))
        old_session = publisher.client.client_id[0]
        # Expire the publisher's session the way ZooKeeper does after a partition: another client
        # takes over the session id and closes it.
        thief = KazooClient(hosts=zookeeper.hosts, client_id=publisher.client.client_id)
        thief.start()
        thief.stop()
        thief.close()
        wait_until(lambda: publisher.client.client_id and publisher.client.client_id[0] != old_session,
                   what="a new ZooKeeper session")
        wait_until(lambda: len(reader.list("lasting")) == 2, what="routes registered again")
        # ...owned by the new session, so closing the publisher removes them
        publisher.close()
        wait_until(lambda: reader.list("lasting") == [], what="ephemeral routes gone with their session")
    finally:
        reader.close()


def test_etcd_restart_resumes_watch_and_keeps_routes(etcd) -> None:
    url = f"etcd://127.0.0.1:{etcd.port}/restart/routes"
    publisher, reader = open_registry(url), open_registry(url)
    changes = Changes()
    watch = reader.watch(changes)
    try:
        publisher.register(route(app="durable", port=7201))
        wait_until(lambda: reader.list("durable"), what="the route")
        etcd.restart()
        before = changes.count
        publisher.register(route(app="durable", num=2, port=7202))
        wait_until(lambda: changes.count > before, what="the watch to resume after the restart")
        assert [r.process for r in reader.list("durable")] == ["web.1", "web.2"]
        # The lease is lost (revoked, as if it had expired): the publisher takes a new one and
        # writes its routes again.
        requests.post(f"{etcd.url}/v3/kv/lease/revoke", json={"ID": publisher._lease.id}, timeout=5)
        wait_until(lambda: reader.list("durable") == [], what="routes gone with the lease")
        wait_until(lambda: len(reader.list("durable")) == 2, deadline=20, what="routes registered again")
    finally:
        watch.stop()
        publisher.close()
        reader.close()
