"""Config: set, unset, merge, limits and tags, Deis body shapes, release per change, serialization."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor


def test_set_merge_unset(owner):
    app = owner.create_app()
    response = owner.post(f"/v1/apps/{app}/config", {"values": {"FOO": "bar", "N": 3}})
    assert response.status_code == 201
    assert response.headers["Deis-Release"] == "2" and response.headers["X-Deis-Release"] == "2"
    assert response.json["values"] == {"FOO": "bar", "N": "3"}  # coerced to strings, as Deis did
    response = owner.post(f"/v1/apps/{app}/config", {"values": {"BAZ": "qux"}})
    assert response.json["values"] == {"FOO": "bar", "N": "3", "BAZ": "qux"}
    response = owner.post(f"/v1/apps/{app}/config", {"values": {"FOO": None}})
    assert response.json["values"] == {"N": "3", "BAZ": "qux"}
    assert owner.get(f"/v1/apps/{app}/config").json["values"] == {"N": "3", "BAZ": "qux"}


def test_json_encoded_string_bodies_as_the_python_client_sends(owner):
    app = owner.create_app()
    response = owner.post(f"/v1/apps/{app}/config", {"values": json.dumps({"A": "1", "B": "two"})})
    assert response.status_code == 201 and response.json["values"] == {"A": "1", "B": "two"}
    response = owner.post(f"/v1/apps/{app}/config", {"memory": json.dumps({"web": "512M"})})
    assert response.json["memory"] == {"web": "512M"}


def test_release_summaries(owner):
    app = owner.create_app()
    owner.post(f"/v1/apps/{app}/config", {"values": {"FOO": "1", "BAR": "2"}})
    owner.post(f"/v1/apps/{app}/config", {"values": {"FOO": "9", "BAR": None}})
    owner.post(f"/v1/apps/{app}/config", {"memory": {"web": "1G"}, "cpu": {"web": 512}})
    owner.post(f"/v1/apps/{app}/config", {"tags": {"environ": "prod"}})
    owner.post(f"/v1/apps/{app}/config", {})
    summaries = [r["summary"] for r in owner.get(f"/v1/apps/{app}/releases").json["results"]]
    assert summaries == [
        "owner changed nothing",
        "owner added tag environ",
        "owner changed limits for memory, cpu",
        "owner changed FOO, deleted BAR",
        "owner added FOO, BAR",
        "owner created initial release",
    ]


def test_limits_and_tags_validation(owner):
    app = owner.create_app()
    cases = [
        ({"memory": {"web": "lots"}}, "memory", "Limit format: <number><unit>, where unit = B, K, M or G"),
        ({"memory": {"Web!": "1G"}}, "memory", None),
        ({"cpu": {"web": 2000}}, "cpu", "CPU shares must be between 0 and 1024"),
        ({"cpu": {"web": "many"}}, "cpu", "CPU shares must be an integer"),
        ({"tags": {"env1": "x"}}, "tags", "Tag keys can only contain [a-z]"),
        ({"tags": {"env": "a b"}}, "tags", None),
        ({"values": {"1BAD": "x"}}, "values",
         "Config keys must start with a letter or underscore and only contain [A-z0-9_]"),
        ({"values": {"OK": {"nested": 1}}}, "values", None),
        ({"values": {"OK": True}}, "values", None),
        ({"values": "not json"}, "values", None),
        ({"values": [1, 2]}, "values", None),
        ({"values": {"BIG": "x" * 70000}}, "values", None),
    ]
    for body, field, message in cases:
        response = owner.post(f"/v1/apps/{app}/config", body)
        assert response.status_code == 400, body
        assert field in response.json, (body, response.json)
        if message:
            assert response.json[field] == [message]
    # nothing was written by the refused changes
    assert owner.get(f"/v1/apps/{app}/releases").json["count"] == 1
    ok = owner.post(f"/v1/apps/{app}/config", {"memory": {"web": "512MB"}, "cpu": {"web": "100"},
                                                "tags": {"environ": "dev"}})
    assert ok.status_code == 201
    assert ok.json["cpu"] == {"web": 100} and ok.json["memory"] == {"web": "512MB"}


def test_unicode_values(owner):
    app = owner.create_app()
    response = owner.post(f"/v1/apps/{app}/config", {"values": {"GREETING": "héllo wörld ✓"}})
    assert response.status_code == 201
    assert owner.get(f"/v1/apps/{app}/config").json["values"]["GREETING"] == "héllo wörld ✓"


def test_permissions(owner, stranger, admin):
    app = owner.create_app()
    assert stranger.get(f"/v1/apps/{app}/config").status_code == 403
    assert stranger.post(f"/v1/apps/{app}/config", {"values": {"X": "1"}}).status_code == 403
    assert admin.post(f"/v1/apps/{app}/config", {"values": {"X": "1"}}).status_code == 201
    assert owner.client.get(f"/v1/apps/{app}/config").status_code == 401


def test_concurrent_changes_each_get_their_own_consecutive_release(owner):
    app = owner.create_app()
    keys = [f"K{i}" for i in range(12)]

    def change(key: str):  # type: ignore[no-untyped-def]
        return owner.post(f"/v1/apps/{app}/config", {"values": {key: "v"}})

    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(change, keys))
    assert [r.status_code for r in responses] == [201] * len(keys)
    versions = sorted(int(r.headers["Deis-Release"]) for r in responses)
    assert versions == list(range(2, 2 + len(keys)))
    assert set(owner.get(f"/v1/apps/{app}/config").json["values"]) == set(keys)  # none lost
