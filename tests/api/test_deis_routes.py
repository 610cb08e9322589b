"""The Deis v1.13 endpoint table as a whole: authentication before anything else, builder-only hooks,
405s, the Deis-Version header, and what collaborators may (everything but destroy) and may not do."""
from __future__ import annotations

import re

from app_layer.api.openapi import OPERATIONS
from tests.conftest import register

VALUES = {"app_id": "some-app", "username": "someone", "process_type": "web", "num": "1", "version": "1",
          "build_uuid": "00000000-0000-0000-0000-000000000000", "domain": "x.example.com",
          "common_name": "x.example.com", "name": "laptop", "fingerprint": "aa:bb"}


def _url(rule: str) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: VALUES[m.group(1)], rule)


def test_every_route_wants_credentials_first(client, owner):
    for (method, rule), op in OPERATIONS.items():
        if op.auth == "none":
            continue
        response = client.open(_url(rule), method=method, json={})
        assert response.status_code == 401, (method, rule, response.status_code)
        assert response.json == {"detail": "Authentication credentials were not provided."}, (method, rule)
        if op.auth == "builder":  # a user token is not a builder key
            response = client.open(_url(rule), method=method, json={}, headers=owner.headers)
            assert response.status_code == 403, (method, rule)


def test_unrouted_methods_are_405_with_allow(owner):
    for path in ("/v1/apps", "/v1/apps/x", "/v1/apps/x/config", "/v1/keys", "/v1/certs", "/v1/auth/login/"):
        for method in ("PUT", "PATCH"):
            response = owner.client.open(path, method=method, headers=owner.headers)
            assert response.status_code == 405, (method, path)
            assert response.json == {"detail": f"Method '{method}' not allowed."}
            assert response.headers["Allow"]
    assert owner.client.post("/healthz").status_code == 405


def test_deis_version_header(owner):
    response = owner.client.get("/v1/apps", headers={**owner.headers, "Deis-Version": "2"})
    assert response.status_code == 405
    assert response.json == {"error": "Client and server versions do not match. Client version: 2 Server version: 1"}
    assert owner.client.get("/v1/apps", headers={**owner.headers, "Deis-Version": "1"}).status_code == 200
    assert owner.client.get("/v1/apps", headers={**owner.headers, "X-Deis-Version": "2"}).status_code == 200


def test_version_headers_on_every_answer(client, owner):
    for response in (client.get("/v1/"), owner.get("/v1/apps"), owner.get("/v1/apps/nope"), client.get("/healthz")):
        assert response.headers["DEIS_API_VERSION"] == "1.7"
        assert response.headers["X_DEIS_API_VERSION"] == "1.7"
        assert response.headers["DEIS_PLATFORM_VERSION"]


def test_collaborators_do_everything_but_destroy(client, owner):
    friend = register(client, "friend")
    app = owner.create_app()
    assert owner.post(f"/v1/apps/{app}/perms", {"username": "friend"}).status_code == 201
    assert friend.get(f"/v1/apps/{app}").status_code == 200
    assert friend.post(f"/v1/apps/{app}/config", {"values": {"A": "1"}}).status_code == 201
    build = {"image": "example/web:1", "sha": "a" * 40, "procfile": {"web": "serve"}}
    assert friend.post(f"/v1/apps/{app}/builds", build).status_code == 201
    assert friend.post(f"/v1/apps/{app}/scale", {"web": 2}).status_code == 204
    assert friend.get(f"/v1/apps/{app}/containers").json["count"] >= 1
    assert friend.post(f"/v1/apps/{app}/releases/rollback", {"version": 3}).status_code == 201
    assert friend.post(f"/v1/apps/{app}/domains", {"domain": "friend.example.com"}).status_code == 201
    assert friend.get(f"/v1/apps/{app}/perms").json == {"users": ["friend"]}
    # ... but not destroy, delete domains, share, or give the app away
    assert friend.delete(f"/v1/apps/{app}/domains/friend.example.com").status_code == 403
    assert friend.delete(f"/v1/apps/{app}").status_code == 403
    assert friend.post(f"/v1/apps/{app}/perms", {"username": "admin"}).status_code == 403
    assert friend.post(f"/v1/apps/{app}", {"owner": "friend"}).status_code == 403
    assert owner.get(f"/v1/apps/{app}").json["owner"] == "owner"


def test_transfer_moves_ownership(client, owner, stranger, admin):
    app = owner.create_app()
    assert owner.post(f"/v1/apps/{app}", {"owner": "ghost"}).status_code == 404
    assert owner.post(f"/v1/apps/{app}", {}).json == {"owner": ["Missing data for required field."]}
    response = owner.post(f"/v1/apps/{app}", {"owner": "stranger"})
    assert response.status_code == 200 and response.data == b""
    assert stranger.get(f"/v1/apps/{app}").json["owner"] == "stranger"
    assert owner.get(f"/v1/apps/{app}").status_code == 403  # the old owner keeps nothing
    assert stranger.delete(f"/v1/apps/{app}").status_code == 204


def test_admin_routes_are_admin_only(client, admin, owner):
    for method, path, body in (("GET", "/v1/users", None), ("GET", "/v1/admin/perms", None),
                               ("POST", "/v1/admin/perms", {"username": "owner"}),
                               ("DELETE", "/v1/admin/perms/admin", None)):
        assert owner.client.open(path, method=method, json=body, headers=owner.headers).status_code == 403, path
    assert admin.get("/v1/admin/perms").json["results"] == [{"username": "admin", "is_superuser": True}]
    assert admin.post("/v1/admin/perms", {"username": "ghost"}).status_code == 404
    assert admin.delete("/v1/admin/perms/ghost").status_code == 404
    users = admin.get("/v1/users").json
    assert users["count"] == 2 and {u["username"] for u in users["results"]} == {"admin", "owner"}
    assert "password" not in users["results"][0] and "password_hash" not in users["results"][0]
