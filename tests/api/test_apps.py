"""Apps: create (generated names, validation), list visibility, info, destroy, transfer, sharing."""
from __future__ import annotations

import re

from tests.conftest import register


def test_create_with_generated_name_makes_release_v1(owner):
    response = owner.post("/v1/apps", {})
    assert response.status_code == 201
    body = response.json
    assert re.match(r"^[a-z]+-[a-z]+(-\d+)?$", body["id"])
    assert body["owner"] == "owner" and body["url"] == f"{body['id']}.example.test" and body["structure"] == {}
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dUTC$", body["created"])
    releases = owner.get(f"/v1/apps/{body['id']}/releases").json
    assert releases["count"] == 1
    assert releases["results"][0]["version"] == 1
    assert releases["results"][0]["summary"] == "owner created initial release"


def test_create_with_chosen_name_and_uniqueness(owner, stranger):
    assert owner.create_app("my-app") == "my-app"
    response = stranger.post("/v1/apps", {"id": "my-app"})
    assert response.status_code == 400 and response.json == {"id": ["This field must be unique."]}


def test_create_rejects_bad_ids(owner):
    for bad, message in [("Upper", "App IDs can only contain [a-z0-9-]."), ("has_underscore", None),
                         ("deis", "deis is a reserved name."), ("-leading", None), ("x" * 64, None), ("", None)]:
        response = owner.post("/v1/apps", {"id": bad})
        assert response.status_code == 400, bad
        assert "id" in response.json, (bad, response.json)
        if message:
            assert response.json["id"] == [message]
    response = owner.post("/v1/apps", {"id": 42})
    assert response.status_code == 400 and "id" in response.json


def test_list_shows_own_and_shared_apps_and_admin_sees_all(admin, owner, stranger):
    mine = owner.create_app("mine")
    theirs = stranger.create_app("theirs")
    assert [a["id"] for a in owner.get("/v1/apps").json["results"]] == [mine]
    assert owner.post(f"/v1/apps/{mine}/perms", {"username": "stranger"}).status_code == 201
    assert sorted(a["id"] for a in stranger.get("/v1/apps").json["results"]) == [mine, theirs]
    assert sorted(a["id"] for a in admin.get("/v1/apps").json["results"]) == [mine, theirs]


def test_pagination_envelope(owner):
    for n in range(5):
        owner.create_app(f"page-{n}")
    first = owner.get("/v1/apps?page_size=2").json
    assert first["count"] == 5 and len(first["results"]) == 2 and first["previous"] is None
    assert "page=2" in first["next"] and "page_size=2" in first["next"]
    last = owner.get("/v1/apps?page_size=2&page=3").json
    assert len(last["results"]) == 1 and last["next"] is None and last["previous"] is not None
    seen = [a["id"] for p in (1, 2, 3) for a in owner.get(f"/v1/apps?page_size=2&page={p}").json["results"]]
    assert sorted(seen) == [f"page-{n}" for n in range(5)]
    assert owner.get("/v1/apps?page_size=0").status_code == 400
    assert owner.get("/v1/apps?page=abc").status_code == 400


def test_info_and_permissions(admin, owner, stranger):
    app = owner.create_app("info-app")
    assert owner.get(f"/v1/apps/{app}").json["id"] == app
    assert owner.get(f"/v1/apps/{app}/").status_code == 200
    assert stranger.get(f"/v1/apps/{app}").status_code == 403
    assert admin.get(f"/v1/apps/{app}").status_code == 200
    assert owner.get("/v1/apps/no-such-app").status_code == 404


def test_unknown_method_is_405_json(owner):
    app = owner.create_app()
    response = owner.client.patch(f"/v1/apps/{app}", headers=owner.headers)
    assert response.status_code == 405 and response.json == {"detail": "Method 'PATCH' not allowed."}
    response = owner.client.put("/v1/apps", headers=owner.headers)
    assert response.status_code == 405


def test_destroy_owner_only(owner, stranger, admin):
    app = owner.create_app("doomed")
    owner.post(f"/v1/apps/{app}/perms", {"username": "stranger"})
    assert stranger.delete(f"/v1/apps/{app}").status_code == 403  # collaborators cannot destroy
    assert owner.delete(f"/v1/apps/{app}").status_code == 204
    assert owner.get(f"/v1/apps/{app}").status_code == 404
    other = owner.create_app("doomed-2")
    assert admin.delete(f"/v1/apps/{other}").status_code == 204


def test_destroy_removes_processes_from_the_backend(platform, owner):
    app = owner.create_app("with-procs")
    owner.post(f"/v1/apps/{app}/builds", {"image": "example/web:1", "procfile": {"web": "serve"}, "sha": "ab" * 20})
    assert platform.backend.processes(app)
    assert owner.delete(f"/v1/apps/{app}").status_code == 204
    assert platform.backend.processes(app) == []


def test_transfer(client, owner, stranger):
    app = owner.create_app("moving")
    assert stranger.post(f"/v1/apps/{app}", {"owner": "stranger"}).status_code == 403
    assert owner.post(f"/v1/apps/{app}", {"owner": "ghost"}).status_code == 404
    assert owner.post(f"/v1/apps/{app}", {}).status_code == 400
    assert owner.post(f"/v1/apps/{app}", {"owner": "stranger"}).status_code == 200
    assert stranger.get(f"/v1/apps/{app}").json["owner"] == "stranger"
    assert owner.get(f"/v1/apps/{app}").status_code == 403


def test_sharing(client, owner, stranger):
    third = register(client, "third")
    app = owner.create_app("shared")
    assert owner.post(f"/v1/apps/{app}/perms", {"username": "ghost"}).status_code == 404
    assert owner.post(f"/v1/apps/{app}/perms", {}).status_code == 400
    assert owner.post(f"/v1/apps/{app}/perms", {"username": "stranger"}).status_code == 201
    assert owner.get(f"/v1/apps/{app}/perms").json == {"users": ["stranger"]}
    # a collaborator may use the app but not share it further
    assert stranger.post(f"/v1/apps/{app}/config", {"values": {"A": "1"}}).status_code == 201
    shown = stranger.get(f"/v1/apps/{app}")
    assert shown.status_code == 200 and (shown.json["id"], shown.json["owner"]) == (app, owner.username)
    assert third.get(f"/v1/apps/{app}").status_code == 403
    assert stranger.post(f"/v1/apps/{app}/perms", {"username": "third"}).status_code == 403
    assert third.delete(f"/v1/apps/{app}/perms/stranger").status_code == 403
    assert stranger.delete(f"/v1/apps/{app}/perms/stranger").status_code == 204  # leave on one's own
    assert stranger.get(f"/v1/apps/{app}").status_code == 403
    assert owner.delete(f"/v1/apps/{app}/perms/stranger").status_code == 404
