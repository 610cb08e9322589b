"""Bad input, field by field: wrong type, too long, malformed, missing. Every case is a 400 that names
the field (and never a 500); nothing is created by a rejected request."""
from __future__ import annotations

from typing import Any

import pytest

from tests.api.test_certs import make_cert

MISSING = object()
SHA = "0123456789abcdef0123456789abcdef01234567"
KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHY8l8wv5S2Kb3v4yJ0TSEyIuW6mZ2P6gXqo0gW6m3Vb bad@input")

# (field, bad value or MISSING, field named in the answer when it is not the field itself)
Case = tuple[str, Any, str | None]


def _text_cases(field: str, max_length: int, required: bool = True, malformed: Any = None) -> list[Case]:
    cases: list[Case] = [(field, 12345, None), (field, ["a"], None), (field, {"a": 1}, None),
                         (field, "x" * (max_length + 1), None)]
    if required:
        cases += [(field, MISSING, None), (field, "", None), (field, None, None)]
    if malformed is not None:
        cases.append((field, malformed, None))
    return cases


CERT, CERT_KEY = make_cert("bad-input.example.com")

# method, path ({app} = an app of the caller), a valid body, the cases
ENDPOINTS: list[tuple[str, str, dict[str, Any], list[Case]]] = [
    ("POST", "/v1/auth/register", {"username": "newbie", "password": "pw", "email": "n@example.com"},
     _text_cases("username", 150, malformed="has space") + _text_cases("password", 1024)
     + _text_cases("email", 254, malformed="not-an-email") + [("email", "a@b", None)]
     + _text_cases("first_name", 30, required=False) + _text_cases("last_name", 150, required=False)),
    ("POST", "/v1/auth/login/", {"username": "owner", "password": "s3cret-pw"},
     _text_cases("username", 150) + _text_cases("password", 1024)),
    ("POST", "/v1/auth/passwd", {"password": "s3cret-pw", "new_password": "n3w-pw"},
     _text_cases("new_password", 1024) + _text_cases("password", 1024, required=False)
     + _text_cases("username", 150, required=False, malformed="bad user")),
    ("POST", "/v1/auth/tokens/", {},
     _text_cases("username", 150, required=False, malformed="bad user")
     + [("all", "maybe", None), ("all", [True], None)]),
    ("DELETE", "/v1/auth/cancel", {"username": "owner"},
     _text_cases("username", 150, required=False, malformed="bad/user")),
    ("POST", "/v1/admin/perms", {"username": "owner"}, _text_cases("username", 150, malformed="bad user")),
    ("POST", "/v1/apps", {"id": "fine"},
     [("id", 12, None), ("id", ["a"], None), ("id", "x" * 64, None), ("id", "Bad_ID", None), ("id", "-x", None),
      ("id", "", None), ("id", "deis", None)]),
    ("POST", "/v1/apps/{app}", {"owner": "stranger"}, _text_cases("owner", 150, malformed="bad owner")),
    ("POST", "/v1/apps/{app}/perms", {"username": "stranger"}, _text_cases("username", 150, malformed="x y")),
    ("POST", "/v1/apps/{app}/config", {"values": {"A": "1"}},
     [(f, v, None) for f in ("values", "memory", "cpu", "tags") for v in (12, ["a"], True, "not json", "[1]")]
     + [("values", {"1BAD": "x"}, None), ("values", {"A": "x" * (64 * 1024 + 1)}, None),
        ("values", {"A": ["list"]}, None), ("values", {"A": "nul\x00"}, None),
        ("memory", {"web": "lots"}, None), ("memory", {"Web!": "1G"}, None), ("cpu", {"web": 2000}, None),
        ("cpu", {"web": "many"}, None), ("tags", {"env-x": "prod"}, None), ("tags", {"env": "pro d"}, None),
        ("values", {f"K{n}": "v" for n in range(1001)}, None)]),
    ("POST", "/v1/apps/{app}/builds", {"image": "example/web:1", "sha": SHA},
     _text_cases("image", 256, malformed="bad image!") + _text_cases("dockerfile", 64 * 1024, required=False)
     + [("sha", "xyz", None), ("sha", SHA + "0", None), ("sha", 12, None), ("procfile", ["web"], None),
        ("procfile", {"web": 1}, None), ("procfile", {"bad type!": "x"}, None), ("procfile", "web: [", None)]),
    ("POST", "/v1/apps/{app}/releases/rollback", {"version": 1},
     [("version", "abc", None), ("version", -1, None), ("version", [1], None), ("version", 1.5, None)]),
    ("POST", "/v1/apps/{app}/run", {"command": "ls"}, _text_cases("command", 4096)),
    ("POST", "/v1/apps/{app}/scale", {"cmd": 1},
     [("cmd", "x", None), ("cmd", -1, None), ("cmd", 101, None), ("cmd", [1], None), ("cmd", True, None),
      ("cmd", None, None), ("Bad!", 1, None), ("cmd", MISSING, "non_field_errors")]),
    ("POST", "/v1/apps/{app}/domains", {"domain": "ok.example.com"},
     _text_cases("domain", 255, malformed="bad domain") + [("domain", "*.example.com", None)]),
    ("POST", "/v1/certs", {"certificate": CERT, "key": CERT_KEY},
     _text_cases("certificate", 64 * 1024, malformed="-----BEGIN CERTIFICATE-----\nxx\n-----END CERTIFICATE-----")
     + _text_cases("key", 64 * 1024, malformed="garbage")
     + _text_cases("common_name", 255, required=False, malformed="bad name")),
    ("POST", "/v1/keys", {"id": "laptop", "public": KEY},
     _text_cases("id", 128) + _text_cases("public", 16 * 1024, malformed="ssh-rsa not-base64!")
     + [("public", "ssh-foo AAAA", None), ("public", "ssh-rsa AAAAC3NzaC1lZDI1NTE5", None)]),
    ("POST", "/v1/hooks/push", {"receive_user": "owner", "receive_repo": "{app}", "sha": SHA},
     _text_cases("receive_user", 150) + _text_cases("receive_repo", 63) + _text_cases("sha", 40, malformed="zz")
     + _text_cases("fingerprint", 255, required=False) + _text_cases("ssh_connection", 255, required=False)
     + _text_cases("ssh_original_command", 255, required=False)),
    ("POST", "/v1/hooks/config", {"receive_user": "owner", "receive_repo": "{app}"},
     _text_cases("receive_user", 150) + _text_cases("receive_repo", 63)),
    ("POST", "/v1/hooks/build", {"receive_user": "owner", "receive_repo": "{app}", "image": "{app}", "sha": SHA},
     _text_cases("image", 256) + [("sha", "nothex", None), ("procfile", ["x"], None),
                                  ("dockerfile", 5, None)]),
]


def _body(valid: dict[str, Any], app: str, field: str, value: Any) -> dict[str, Any]:
    body = {k: v.replace("{app}", app) if isinstance(v, str) else v for k, v in valid.items()}
    if value is MISSING:
        body.pop(field, None)
    else:
        body[field] = value
    return body


@pytest.mark.parametrize("method, path, valid, cases", ENDPOINTS, ids=[f"{m} {p}" for m, p, _, _ in ENDPOINTS])
def test_every_field_of_every_endpoint(client, platform, owner, stranger, method, path, valid, cases):
    app = owner.create_app("bad-input")
    admin_token = client.post("/v1/auth/login/", data={"username": "admin", "password": "s3cret-pw"}).json["token"]
    token = admin_token if "/admin/" in path else owner.token
    headers = {"Authorization": f"token {token}", "X-Deis-Builder-Auth": platform.settings.builder_key}
    url = path.replace("{app}", app)
    for field, value, named in cases:
        body = _body(valid, app, field, value)
        response = client.open(url, method=method, json=body, headers=headers)
        shown = repr(value)[:60]
        assert response.status_code == 400, f"{field}={shown}: {response.status_code} {response.json}"
        assert (named or field) in response.json, f"{field}={shown}: {response.json}"
    # a rejected request changed nothing
    assert owner.get(f"/v1/apps/{app}/releases").json["count"] == 1
    assert owner.get(f"/v1/apps/{app}/domains").json["count"] == 0
    assert owner.get("/v1/certs").json["count"] == 0 and owner.get("/v1/keys").json["count"] == 0


def test_form_encoded_register_and_login_name_the_field(client, owner):
    response = client.post("/v1/auth/register", data={"username": "x y", "password": "p", "email": "x@example.com"})
    assert response.status_code == 400 and "username" in response.json
    response = client.post("/v1/auth/login/", data={"username": "owner"})
    assert response.status_code == 400 and "password" in response.json


@pytest.mark.parametrize("query", ["page=0", "page=abc", "page=-1", "page_size=0", "page_size=1001", "page_size=x"])
def test_pagination_arguments(owner, query):
    response = owner.get(f"/v1/apps?{query}")
    assert response.status_code == 400 and list(response.json) == [query.split("=")[0]]


@pytest.mark.parametrize("raw, content_type", [(b"{not json", "application/json"), (b"[1, 2]", "application/json"),
                                                (b'"a string"', "application/json"), (b"\xff\xfe", "application/json")])
def test_bodies_that_are_not_json_objects(owner, raw, content_type):
    response = owner.client.post("/v1/apps", data=raw, headers={**owner.headers, "Content-Type": content_type})
    assert response.status_code == 400
    assert set(response.json) & {"detail", "non_field_errors"}


def test_oversized_body_is_413(owner):
    response = owner.post("/v1/apps", {"id": "x" * (5 * 1024 * 1024)})
    assert response.status_code == 413 and "detail" in response.json


def test_nul_characters_and_huge_numbers(client, platform, owner):
    """Both would make PostgreSQL refuse the query: a 4xx, on every database."""
    app = owner.create_app()
    builder = {**owner.headers, "X-Deis-Builder-Auth": platform.settings.builder_key}
    response = client.post("/v1/hooks/push", json={"receive_user": "own\x00er", "receive_repo": app, "sha": "ab"},
                           headers=builder)
    assert response.status_code == 400 and response.json == {"receive_user": ["NUL characters are not allowed."]}
    response = owner.post(f"/v1/apps/{app}/builds", {"image": "x/y", "procfile": {"web": "serve\x00"}})
    assert response.status_code == 400 and list(response.json) == ["procfile"]
    response = owner.get(f"/v1/apps/{app}\x00x")
    assert response.status_code == 400 and "NUL" in response.json["detail"]
    assert owner.get("/v1/apps?page=1&x=\x00").status_code == 400
    assert owner.get(f"/v1/apps/{app}/releases/v{2**40}").status_code == 404
    assert owner.get(f"/v1/apps/{app}/containers/web/{2**40}").status_code == 404
    assert owner.post(f"/v1/apps/{app}/containers/web/{2**40}/restart").status_code == 404
    response = owner.post(f"/v1/apps/{app}/releases/rollback", {"version": 2**40})
    assert response.status_code == 400 and list(response.json) == ["version"]
