"""Accounts: register (modes), login, tokens hashed at rest, passwd, cancel, admin rights, users."""
from __future__ import annotations

import hashlib

from sqlalchemy import select

from app_layer.models import Token, User
from tests.conftest import register


def test_root_needs_a_token_and_says_so(client):
    response = client.get("/v1/")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Token"
    assert response.json == {"detail": "Authentication credentials were not provided."}
    assert response.headers["DEIS_API_VERSION"] == "1.7"


def test_root_with_a_token_answers_empty_object(owner):
    response = owner.get("/v1/")
    assert response.status_code == 200 and response.json == {}


def test_healthz_needs_no_token(client):
    assert client.get("/healthz").status_code == 200
    assert client.head("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405


def test_invalid_token_is_401(client, owner):
    response = client.get("/v1/apps", headers={"Authorization": "token " + "0" * 40})
    assert response.status_code == 401 and response.json == {"detail": "Invalid token."}


def test_first_user_is_admin_and_second_is_not(client):
    first = client.post("/v1/auth/register", data={"username": "a1", "password": "pw", "email": "a1@ex.com"})
    second = client.post("/v1/auth/register", json={"username": "a2", "password": "pw", "email": "a2@ex.com"})
    assert first.status_code == second.status_code == 201
    assert first.json["is_superuser"] is True and second.json["is_superuser"] is False
    assert "password" not in first.json and "password_hash" not in first.json


def test_register_rejects_bad_input_naming_the_field(client):
    cases = [
        ({"password": "pw", "email": "x@ex.com"}, "username"),
        ({"username": "bad name", "password": "pw", "email": "x@ex.com"}, "username"),
        ({"username": "u" * 151, "password": "pw", "email": "x@ex.com"}, "username"),
        ({"username": "ok", "email": "x@ex.com"}, "password"),
        ({"username": "ok", "password": "pw", "email": "not-an-email"}, "email"),
        ({"username": "ok", "password": "pw"}, "email"),
    ]
    for body, field in cases:
        response = client.post("/v1/auth/register", json=body)
        assert response.status_code == 400, body
        assert field in response.json, (body, response.json)


def test_register_duplicate_username(client, owner):
    response = client.post("/v1/auth/register", json={"username": "owner", "password": "x", "email": "o@ex.com"})
    assert response.status_code == 400 and "username" in response.json


def test_malformed_json_is_400_not_500(client):
    response = client.post("/v1/auth/register", data="{nope", content_type="application/json")
    assert response.status_code == 400 and "JSON" in response.json["detail"]
    response = client.post("/v1/auth/register", data="[1, 2]", content_type="application/json")
    assert response.status_code == 400 and "non_field_errors" in response.json


def test_login_with_bad_credentials(client, owner):
    response = client.post("/v1/auth/login/", data={"username": "owner", "password": "wrong"})
    assert response.status_code == 400
    assert response.json == {"non_field_errors": ["Unable to log in with provided credentials."]}


def test_tokens_are_stored_as_sha256_digests_and_passwords_hashed(platform, owner):
    with platform.db.read() as session:
        digests = set(session.scalars(select(Token.digest)))
        user = session.scalar(select(User).where(User.username == "owner"))
    assert hashlib.sha256(owner.token.encode()).hexdigest() in digests
    assert owner.token not in digests
    assert user.password_hash.startswith("$argon2id$") and owner.password not in user.password_hash


def test_token_is_40_hex(owner):
    assert len(owner.token) == 40 and int(owner.token, 16) >= 0


def test_registration_modes(tmp_path):
    from app_layer.api import create_app
    from app_layer.backends.memory import MemoryBackend
    from app_layer.platform import Platform
    from app_layer.settings import Settings

    def client_for(mode):
        settings = Settings.from_env({"APP_LAYER_DATA_DIR": str(tmp_path / mode), "APP_LAYER_SCHEDULER": "memory",
                                      "APP_LAYER_REGISTRATION_MODE": mode})
        plat = Platform.build(settings, backend=MemoryBackend())
        plat.db.create_all()
        return create_app(plat).test_client()

    disabled = client_for("disabled")
    response = disabled.post("/v1/auth/register", json={"username": "x", "password": "p", "email": "x@ex.com"})
    assert response.status_code == 403 and response.json == {"detail": "Registration is disabled"}

    admin_only = client_for("admin_only")
    admin = register(admin_only, "boss")  # the very first user may always register
    refused = admin_only.post("/v1/auth/register", json={"username": "y", "password": "p", "email": "y@ex.com"})
    assert refused.status_code == 403
    allowed = admin_only.post("/v1/auth/register", json={"username": "y", "password": "p", "email": "y@ex.com"},
                              headers=admin.headers)
    assert allowed.status_code == 201


def test_passwd_changes_password(client, owner):
    wrong = owner.post("/v1/auth/passwd", {"password": "nope", "new_password": "n3w"})
    assert wrong.status_code == 400 and wrong.json == {"detail": "Current password does not match"}
    assert owner.post("/v1/auth/passwd", {"password": owner.password, "new_password": "n3w"}).status_code == 200
    assert client.post("/v1/auth/login/", data={"username": "owner", "password": "n3w"}).status_code == 200
    assert client.post("/v1/auth/login/", data={"username": "owner", "password": owner.password}).status_code == 400


def test_admin_sets_another_users_password_without_the_old_one(client, admin, owner, stranger):
    assert admin.post("/v1/auth/passwd", {"username": "owner", "new_password": "reset"}).status_code == 200
    assert client.post("/v1/auth/login/", data={"username": "owner", "password": "reset"}).status_code == 200
    refused = stranger.post("/v1/auth/passwd", {"username": "owner", "new_password": "hijack"})
    assert refused.status_code == 403


def test_regenerate_token_revokes_the_old_one(client, owner, stranger):
    response = owner.post("/v1/auth/tokens/", {})
    assert response.status_code == 200
    new = response.json["token"]
    assert owner.get("/v1/apps").status_code == 401
    owner.token = new
    assert owner.get("/v1/apps").status_code == 200
    assert stranger.post("/v1/auth/tokens/", {"username": "owner"}).status_code == 403
    assert stranger.post("/v1/auth/tokens/", {"all": True}).status_code == 403


def test_admin_regenerates_all_tokens(admin, owner):
    response = admin.post("/v1/auth/tokens/", {"all": True})
    assert response.status_code == 200
    assert owner.get("/v1/apps").status_code == 401
    assert admin.get("/v1/apps").status_code == 401


def test_cancel_refused_while_owning_apps_then_allowed(client, owner):
    app = owner.create_app()
    response = owner.delete("/v1/auth/cancel")
    assert response.status_code == 409 and "still has applications" in response.json["detail"]
    assert owner.delete(f"/v1/apps/{app}").status_code == 204
    assert owner.delete("/v1/auth/cancel").status_code == 204
    assert client.post("/v1/auth/login/", data={"username": "owner", "password": owner.password}).status_code == 400


def test_cancel_another_user_needs_admin(client, admin, owner, stranger):
    assert stranger.client.delete("/v1/auth/cancel", json={"username": "owner"},
                                  headers=stranger.headers).status_code == 403
    assert admin.client.delete("/v1/auth/cancel", json={"username": "owner"}, headers=admin.headers).status_code == 204


def test_users_list_is_admin_only(admin, owner):
    assert owner.get("/v1/users").status_code == 403
    response = admin.get("/v1/users")
    assert response.status_code == 200
    assert sorted(u["username"] for u in response.json["results"]) == ["admin", "owner"]


def test_admin_perms_grant_list_revoke(admin, owner, stranger):
    assert stranger.post("/v1/admin/perms", {"username": "owner"}).status_code == 403
    assert admin.post("/v1/admin/perms", {"username": "owner"}).status_code == 201
    listed = admin.get("/v1/admin/perms").json["results"]
    assert {"username": "owner", "is_superuser": True} in listed
    assert owner.get("/v1/users").status_code == 200
    assert admin.delete("/v1/admin/perms/owner").status_code == 204
    assert owner.get("/v1/users").status_code == 403
    assert admin.post("/v1/admin/perms", {"username": "ghost"}).status_code == 404
