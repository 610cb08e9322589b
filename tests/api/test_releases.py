"""Builds, releases, rollback, default scale, failed rollouts (memory backend)."""
from __future__ import annotations

import json

SHA = "0123456789abcdef0123456789abcdef01234567"


def deploy(account, app, image="example/web:1", procfile=None, sha=SHA):  # type: ignore[no-untyped-def]
    body = {"image": image, "sha": sha}
    if procfile is not None:
        body["procfile"] = procfile
    return account.post(f"/v1/apps/{app}/builds", body)


def test_build_create_list_get(owner):
    app = owner.create_app()
    response = deploy(owner, app, procfile={"web": "python app.py", "worker": "python worker.py"})
    assert response.status_code == 201 and response.headers["Deis-Release"] == "2"
    build = response.json
    assert build["image"] == "example/web:1" and build["sha"] == SHA
    assert build["procfile"] == {"web": "python app.py", "worker": "python worker.py"}
    listed = owner.get(f"/v1/apps/{app}/builds").json
    assert listed["count"] == 1 and listed["results"][0]["uuid"] == build["uuid"]
    assert owner.get(f"/v1/apps/{app}/builds/{build['uuid']}").json["uuid"] == build["uuid"]
    assert owner.get(f"/v1/apps/{app}/builds/not-a-uuid").status_code == 404
    release = owner.get(f"/v1/apps/{app}/releases/v2").json
    assert release["build"] == build["uuid"] and release["summary"] == f"owner deployed {SHA[:7]}"
    assert release["state"] == "deployed"


def test_procfile_as_yaml_text(owner):
    app = owner.create_app()
    response = deploy(owner, app, procfile="web: ./server --port $PORT\nclock: ./clock\n")
    assert response.status_code == 201
    assert response.json["procfile"] == {"web": "./server --port $PORT", "clock": "./clock"}


def test_build_bad_input(owner):
    app = owner.create_app()
    for body, field in [({}, "image"), ({"image": ""}, "image"), ({"image": "bad image"}, "image"),
                        ({"image": "x" * 300}, "image"), ({"image": "ok", "sha": "zz"}, "sha"),
                        ({"image": "ok", "procfile": {"web": ""}}, "procfile"),
                        ({"image": "ok", "procfile": "web: [unclosed"}, "procfile"),
                        ({"image": "ok", "procfile": {"bad type!": "x"}}, "procfile"),
                        ({"image": "ok", "procfile": 7}, "procfile")]:
        response = owner.post(f"/v1/apps/{app}/builds", body)
        assert response.status_code == 400 and field in response.json, (body, response.json)
    assert owner.get(f"/v1/apps/{app}/releases").json["count"] == 1


def test_default_scale_on_first_build_only(owner):
    web = owner.create_app()
    deploy(owner, web, procfile={"web": "serve", "worker": "work"})
    assert owner.get(f"/v1/apps/{web}").json["structure"] == {"web": 1}
    assert owner.post(f"/v1/apps/{web}/scale", {"web": 0, "worker": 2}).status_code == 204
    deploy(owner, web, image="example/web:2", procfile={"web": "serve", "worker": "work"})
    assert owner.get(f"/v1/apps/{web}").json["structure"] == {"web": 0, "worker": 2}  # no automatic scale-up

    pulled = owner.create_app()
    deploy(owner, pulled, sha="")  # an image deploy without a Procfile runs the image's command
    assert owner.get(f"/v1/apps/{pulled}").json["structure"] == {"cmd": 1}
    pulled_web = owner.create_app()
    deploy(owner, pulled_web, sha="", procfile={"web": "serve"})  # an image deploy with a web process
    assert owner.get(f"/v1/apps/{pulled_web}").json["structure"] == {"web": 1}


def test_scale_and_containers(platform, owner):
    app = owner.create_app()
    deploy(owner, app, procfile={"web": "serve", "worker": "work"})
    assert owner.post(f"/v1/apps/{app}/scale", {"web": 3, "worker": "2"}).status_code == 204
    containers = owner.get(f"/v1/apps/{app}/containers").json
    assert containers["count"] == 5
    assert {(c["type"], c["num"]) for c in containers["results"]} == {
        ("web", 1), ("web", 2), ("web", 3), ("worker", 1), ("worker", 2)}
    assert all(c["release"] == "v2" and c["state"] == "up" for c in containers["results"])
    assert owner.get(f"/v1/apps/{app}/containers/web").json["count"] == 3
    assert owner.get(f"/v1/apps/{app}/containers/web/2").json["num"] == 2
    assert owner.get(f"/v1/apps/{app}/containers/web/9").status_code == 404
    assert owner.post(f"/v1/apps/{app}/scale", {"web": 1, "worker": 0}).status_code == 204
    assert len(platform.backend.processes(app)) == 1
    # scaling makes no release
    assert owner.get(f"/v1/apps/{app}/releases").json["count"] == 2


def test_scale_errors(owner, stranger):
    app = owner.create_app()
    response = owner.post(f"/v1/apps/{app}/scale", {"web": 1})
    assert response.status_code == 400 and response.json == {"detail": "No build associated with this release"}
    deploy(owner, app, procfile={"web": "serve"})
    response = owner.post(f"/v1/apps/{app}/scale", {"db": 1})
    assert response.status_code == 400
    assert response.json == {"detail": "Container type db does not exist in application"}
    for body in ({"web": -1}, {"web": "x"}, {"web": 1.5}, {"web": True}, {}, {"Web": 1}, {"web": 1000}):
        response = owner.post(f"/v1/apps/{app}/scale", body)
        assert response.status_code == 400, body
    assert stranger.post(f"/v1/apps/{app}/scale", {"web": 2}).status_code == 403


def test_restart_returns_bare_array(owner):
    app = owner.create_app()
    deploy(owner, app, procfile={"web": "serve", "worker": "work"})
    owner.post(f"/v1/apps/{app}/scale", {"web": 2, "worker": 1})
    everything = owner.post(f"/v1/apps/{app}/containers/restart")
    assert everything.status_code == 200 and isinstance(everything.json, list) and len(everything.json) == 3
    assert len(owner.post(f"/v1/apps/{app}/containers/web/restart").json) == 2
    one = owner.post(f"/v1/apps/{app}/containers/web/2/restart").json
    assert [(c["type"], c["num"]) for c in one] == [("web", 2)]
    assert owner.post(f"/v1/apps/{app}/containers/web/7/restart").status_code == 404


def test_rollback_semantics(owner):
    app = owner.create_app()
    deploy(owner, app, image="example/web:1", procfile={"web": "serve"})        # v2
    owner.post(f"/v1/apps/{app}/config", {"values": {"COLOR": "blue"}})          # v3
    deploy(owner, app, image="example/web:2", procfile={"web": "serve"})        # v4
    response = owner.post(f"/v1/apps/{app}/releases/rollback", {})
    assert response.status_code == 201 and response.json == {"version": 5}
    v5 = owner.get(f"/v1/apps/{app}/releases/v5").json
    v3 = owner.get(f"/v1/apps/{app}/releases/v3").json
    assert v5["summary"] == "owner rolled back to v3"
    assert (v5["build"], v5["config"]) == (v3["build"], v3["config"])
    response = owner.post(f"/v1/apps/{app}/releases/rollback", {"version": 2})
    assert response.json == {"version": 6}
    assert owner.get(f"/v1/apps/{app}/config").json["values"] == {}
    assert owner.post(f"/v1/apps/{app}/releases/rollback", {"version": 99}).status_code == 404
    assert owner.post(f"/v1/apps/{app}/releases/rollback", {"version": -1}).status_code == 400
    assert owner.post(f"/v1/apps/{app}/releases/rollback", {"version": "abc"}).status_code == 400
    response = owner.post(f"/v1/apps/{app}/releases/rollback", {"version": 1})
    assert response.status_code == 400 and "no build" in response.json["detail"]
    assert owner.get(f"/v1/apps/{app}/releases/v99").status_code == 404


def test_rollback_of_first_release_is_refused(owner):
    app = owner.create_app()
    response = owner.post(f"/v1/apps/{app}/releases/rollback", {})
    assert response.status_code == 400 and "nothing to roll back to" in response.json["detail"]


def test_releases_are_read_only(owner):
    app = owner.create_app()
    assert owner.post(f"/v1/apps/{app}/releases", {}).status_code == 405
    assert owner.delete(f"/v1/apps/{app}/releases/v1").status_code == 405


def test_failed_rollout_keeps_old_release_and_is_recorded(platform, owner):
    app = owner.create_app()
    deploy(owner, app, procfile={"web": "serve"})                                # v2 deployed
    platform.backend.fail_health.add(app)
    response = owner.post(f"/v1/apps/{app}/config", {"values": {"BROKEN": "1"}})  # v3 fails
    assert response.status_code == 503 and "did not become healthy" in response.json["detail"]
    v3 = owner.get(f"/v1/apps/{app}/releases/v3").json
    assert v3["state"] == "failed" and "did not become healthy" in v3["failure"]
    assert owner.get(f"/v1/apps/{app}/releases/v2").json["state"] == "deployed"
    assert {p.version for p in platform.backend.processes(app)} == {2}
    # config builds on the last good release, and numbers are never reused
    platform.backend.fail_health.clear()
    response = owner.post(f"/v1/apps/{app}/config", {"values": {"GOOD": "1"}})
    assert response.status_code == 201 and response.headers["Deis-Release"] == "4"
    assert response.json["values"] == {"GOOD": "1"}
    logs = owner.get(f"/v1/apps/{app}/logs").data.decode()
    assert "v3 rollout failed" in logs


def test_run_and_logs(owner, stranger):
    app = owner.create_app()
    response = owner.post(f"/v1/apps/{app}/run", {"command": "echo hi"})
    assert response.status_code == 400
    assert response.json == {"detail": "No build associated with this release to run this command"}
    deploy(owner, app, procfile={"web": "serve"})
    response = owner.post(f"/v1/apps/{app}/run", {"command": "echo hi"})
    assert response.status_code == 200 and response.mimetype == "text/plain"
    assert json.loads(response.data) == [0, "echo hi\n"]
    assert owner.post(f"/v1/apps/{app}/run", {}).status_code == 400
    assert stranger.post(f"/v1/apps/{app}/run", {"command": "id"}).status_code == 403
    text = owner.get(f"/v1/apps/{app}/logs?log_lines=50").data.decode()
    assert f"{app}[app-layer]: v2 created: owner deployed {SHA[:7]}" in text
    assert owner.get(f"/v1/apps/{app}/logs?log_lines=-3").status_code == 400
    assert stranger.get(f"/v1/apps/{app}/logs").status_code == 403
