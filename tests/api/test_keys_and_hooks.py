"""SSH keys and the builder hooks (push check, config, build, key lookup)."""
from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

SHA = "fedcba9876543210fedcba9876543210fedcba98"


def public_key(kind: str = "ed25519") -> str:
    private = {"ed25519": ed25519.Ed25519PrivateKey.generate,
               "rsa": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
               "ecdsa": lambda: ec.generate_private_key(ec.SECP256R1())}[kind]()
    return private.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                             serialization.PublicFormat.OpenSSH).decode() + " me@laptop"


def md5_fingerprint(public: str) -> str:
    digest = hashlib.md5(base64.b64decode(public.split()[1])).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, 32, 2))


@pytest.mark.parametrize("kind", ["ed25519", "rsa", "ecdsa"])
def test_add_list_get_delete_key(owner, kind):
    public = public_key(kind)
    response = owner.post("/v1/keys", {"id": "laptop", "public": public})
    assert response.status_code == 201
    assert response.json["fingerprint"] == md5_fingerprint(public)
    assert response.json["public"] == public and response.json["owner"] == "owner"
    listed = owner.get("/v1/keys").json
    assert listed["count"] == 1 and listed["results"][0]["id"] == "laptop"
    assert owner.get("/v1/keys/laptop").json["public"] == public
    assert owner.delete("/v1/keys/laptop").status_code == 204
    assert owner.get("/v1/keys/laptop").status_code == 404


def test_key_validation_and_ownership(owner, stranger):
    good = public_key()
    kind, data = good.split()[:2]
    for body, field in [({"id": "k", "public": "ssh-ed25519 not-base64!"}, "public"),
                        ({"id": "k", "public": f"{kind} {data[:-3]}"}, "public"),
                        ({"id": "k", "public": "ssh-rsa " + data}, "public"),  # blob of another type
                        ({"id": "k", "public": "garbage"}, "public"),
                        ({"id": "k"}, "public"), ({"public": good}, "id"),
                        ({"id": "a b", "public": good}, "id"), ({"id": "k" * 200, "public": good}, "id")]:
        response = owner.post("/v1/keys", body)
        assert response.status_code == 400 and field in response.json, (body, response.json)
    assert owner.post("/v1/keys", {"id": "k", "public": good}).status_code == 201
    duplicate = stranger.post("/v1/keys", {"id": "k", "public": good})
    assert duplicate.status_code == 400 and "public" in duplicate.json
    assert stranger.get("/v1/keys").json["count"] == 0
    assert stranger.get("/v1/keys/k").status_code == 404
    assert stranger.delete("/v1/keys/k").status_code == 404


@pytest.fixture
def builder(platform):  # type: ignore[no-untyped-def]
    return {"X-Deis-Builder-Auth": platform.settings.builder_key}


def test_hooks_need_the_builder_key(client, owner):
    body = {"receive_user": "owner", "receive_repo": "x", "sha": SHA}
    assert client.post("/v1/hooks/push", json=body).status_code == 401
    assert client.post("/v1/hooks/push", json=body, headers={"X-Deis-Builder-Auth": "wrong"}).status_code == 401
    assert client.post("/v1/hooks/push", json=body, headers=owner.headers).status_code == 403
    assert client.get("/v1/hooks/key/aa:bb", headers=owner.headers).status_code == 403


def test_push_hook_checks_permission(client, builder, owner, stranger):
    app = owner.create_app()
    body = {"receive_user": "owner", "receive_repo": app, "sha": SHA, "fingerprint": "aa:bb",
            "ssh_connection": "127.0.0.1 5000 127.0.0.1 2222", "ssh_original_command": f"git-receive-pack '{app}'"}
    response = client.post("/v1/hooks/push", json=body, headers=builder)
    assert response.status_code == 201 and response.json["app"] == app and response.json["sha"] == SHA
    assert client.post("/v1/hooks/push", json={**body, "receive_user": "stranger"},
                       headers=builder).status_code == 403
    assert client.post("/v1/hooks/push", json={**body, "receive_repo": "nope"}, headers=builder).status_code == 404
    assert client.post("/v1/hooks/push", json={**body, "receive_user": "ghost"}, headers=builder).status_code == 404
    assert client.post("/v1/hooks/push", json={**body, "sha": "xyz"}, headers=builder).status_code == 400


def test_config_and_build_hooks(client, builder, owner):
    app = owner.create_app()
    owner.post(f"/v1/apps/{app}/config", {"values": {"A": "1"}})
    response = client.post("/v1/hooks/config", json={"receive_user": "owner", "receive_repo": app}, headers=builder)
    assert response.status_code == 200 and response.json["values"] == {"A": "1"}
    response = client.post("/v1/hooks/build", headers=builder, json={
        "receive_user": "owner", "receive_repo": app, "image": app, "sha": SHA,
        "procfile": {"web": "serve"}, "dockerfile": "true"})
    assert response.status_code == 200
    assert response.json == {"release": {"version": 3}, "domains": [f"{app}.example.test"]}
    build = owner.get(f"/v1/apps/{app}/builds").json["results"][0]
    assert build["image"].endswith(f"/{app}:git-{SHA[:8]}") and build["sha"] == SHA
    assert owner.get(f"/v1/apps/{app}").json["structure"] == {"web": 1}


def test_key_lookup_by_fingerprint(client, builder, owner):
    public = public_key()
    owner.post("/v1/keys", {"id": "laptop", "public": public})
    md5 = md5_fingerprint(public)
    response = client.get(f"/v1/hooks/key/{md5}", headers=builder)
    assert response.status_code == 200 and response.json["username"] == "owner"
    sha256 = "SHA256:" + base64.b64encode(
        hashlib.sha256(base64.b64decode(public.split()[1])).digest()).decode().rstrip("=")
    assert client.get(f"/v1/hooks/key/{sha256}", headers=builder).json["username"] == "owner"
    assert client.get("/v1/hooks/key/00:11:22", headers=builder).status_code == 404
