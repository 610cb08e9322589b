"""Custom domains: Deis v1.13's hostname rules, global uniqueness, who may add and remove."""
from __future__ import annotations

import pytest

from tests.conftest import register

VALID = ["example.com", "www.example.com", "a-b.example.com", "localhost", "example.com.", "WWW.Example.COM",
         "1.2.3.4.xip.io", "x" * 63 + ".com"]
INVALID = [
    ("*.example.com", "Adding a wildcard subdomain is currently not supported."),
    ("-lead.example.com", "Hostname does not look valid."),
    ("trail-.example.com", "Hostname does not look valid."),
    ("dou--ble.example.com", "Hostname does not look valid."),
    ("under_score.example.com", "Hostname does not look valid."),
    ("192.168.0.1", "Hostname does not look valid."),
    ("123.example.com", "Hostname does not look valid."),
    ("host1", "Hostname does not look valid."),
    ("a..b.com", "Hostname does not look valid."),
    ("x" * 64 + ".com", "Hostname does not look valid."),
    ("exa mple.com", "Hostname does not look valid."),
    ("bücher.de", "Hostname does not look valid."),
    (".", "Hostname does not look valid."),
    ("a." * 127 + "com", "Length must be between 1 and 255."),
]


def test_add_list_remove(owner):
    app = owner.create_app()
    response = owner.post(f"/v1/apps/{app}/domains", {"domain": "www.example.com"})
    assert response.status_code == 201
    assert set(response.json) == {"owner", "app", "domain", "created", "updated"}
    assert response.json["domain"] == "www.example.com" and response.json["app"] == app
    owner.post(f"/v1/apps/{app}/domains", {"domain": "api.example.com"})
    listed = owner.get(f"/v1/apps/{app}/domains").json
    assert listed["count"] == 2
    assert [d["domain"] for d in listed["results"]] == ["www.example.com", "api.example.com"]
    assert owner.delete(f"/v1/apps/{app}/domains/www.example.com").status_code == 204
    assert [d["domain"] for d in owner.get(f"/v1/apps/{app}/domains/").json["results"]] == ["api.example.com"]


@pytest.mark.parametrize("domain", VALID)
def test_valid_hostnames(owner, domain):
    app = owner.create_app()
    response = owner.post(f"/v1/apps/{app}/domains", {"domain": domain})
    assert response.status_code == 201, response.json
    assert response.json["domain"] == domain.rstrip(".").lower()


def test_invalid_hostnames_name_the_field_and_rule(owner):
    app = owner.create_app()
    for domain, message in INVALID:
        response = owner.post(f"/v1/apps/{app}/domains", {"domain": domain})
        assert response.status_code == 400, domain
        assert response.json == {"domain": [message]}, domain
    assert owner.get(f"/v1/apps/{app}/domains").json["count"] == 0


def test_missing_and_wrong_type(owner):
    app = owner.create_app()
    assert owner.post(f"/v1/apps/{app}/domains", {}).json == {"domain": ["Missing data for required field."]}
    response = owner.post(f"/v1/apps/{app}/domains", {"domain": 42})
    assert response.status_code == 400 and list(response.json) == ["domain"]


def test_a_domain_belongs_to_one_app_only(owner, stranger):
    first, second = owner.create_app(), stranger.create_app()
    assert owner.post(f"/v1/apps/{first}/domains", {"domain": "shop.example.com"}).status_code == 201
    for app, account, name in ((second, stranger, "shop.example.com"), (first, owner, "Shop.Example.com."),
                               (second, stranger, "SHOP.example.com")):
        response = account.post(f"/v1/apps/{app}/domains", {"domain": name})
        assert response.status_code == 400
        assert response.json == {"domain": ["The domain shop.example.com is already in use by another app"]}


def test_removing_an_unknown_domain_is_404(owner):
    app = owner.create_app()
    response = owner.delete(f"/v1/apps/{app}/domains/nowhere.example.com")
    assert response.status_code == 404 and "nowhere.example.com" in response.json["detail"]


def test_collaborators_add_but_do_not_remove(client, owner):
    friend = register(client, "friend")
    app = owner.create_app()
    assert owner.post(f"/v1/apps/{app}/perms", {"username": "friend"}).status_code == 201
    assert friend.post(f"/v1/apps/{app}/domains", {"domain": "friend.example.com"}).status_code == 201
    assert friend.get(f"/v1/apps/{app}/domains").json["count"] == 1
    assert friend.delete(f"/v1/apps/{app}/domains/friend.example.com").status_code == 403
    assert owner.delete(f"/v1/apps/{app}/domains/friend.example.com").status_code == 204


def test_strangers_and_anonymous_are_refused(client, owner, stranger, admin):
    app = owner.create_app()
    assert stranger.get(f"/v1/apps/{app}/domains").status_code == 403
    assert stranger.post(f"/v1/apps/{app}/domains", {"domain": "x.example.com"}).status_code == 403
    assert client.get(f"/v1/apps/{app}/domains").status_code == 401
    assert admin.post(f"/v1/apps/{app}/domains", {"domain": "admin.example.com"}).status_code == 201
    assert admin.delete(f"/v1/apps/{app}/domains/admin.example.com").status_code == 204
    assert owner.get("/v1/apps/no-such-app/domains").status_code == 404


def test_domains_go_with_the_app(owner, stranger):
    app = owner.create_app()
    owner.post(f"/v1/apps/{app}/domains", {"domain": "gone.example.com"})
    assert owner.delete(f"/v1/apps/{app}").status_code == 204
    other = stranger.create_app()
    assert stranger.post(f"/v1/apps/{other}/domains", {"domain": "gone.example.com"}).status_code == 201
