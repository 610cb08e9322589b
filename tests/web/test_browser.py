"""The web UI in a real browser: log in, create an app, config, scale, roll back, keys, domains, CSRF."""
from __future__ import annotations

import re

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from playwright.sync_api import expect

from tests.web.conftest import keep_screenshot, unique


def _api_token(live_server, username: str, password: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    response = requests.post(f"{live_server.url}/v1/auth/login/", data={"username": username, "password": password},
                             timeout=10)
    assert response.status_code == 200, response.text
    return {"Authorization": f"token {response.json()['token']}"}


def _row(page, text: str):  # type: ignore[no-untyped-def]
    return page.locator("tr", has_text=text)


def test_login_create_app_config_scale_rollback_and_screenshot(signed_up, live_server, tmp_path) -> None:
    page = signed_up
    # Log out and in again through the forms: a wrong password shows the API's message.
    page.click("text=Log out")
    page.wait_for_url("**/login")
    page.fill("#username", page.username)
    page.fill("#password", "wrong")
    page.click("button:has-text('Log in')")
    expect(page.get_by_text("Unable to log in with provided credentials.")).to_be_visible()
    page.fill("#username", page.username)
    page.fill("#password", page.password)
    page.click("button:has-text('Log in')")
    page.wait_for_url("**/apps")

    app_id = unique("web-app")
    page.fill("#new-app", app_id)
    page.click("text=Create app")
    page.wait_for_url(f"**/apps/{app_id}")
    expect(page.get_by_text(f"Created {app_id}.")).to_be_visible()
    expect(_row(page, "v1").get_by_text("created initial release")).to_be_visible()

    # A build arrives as git push or builds:create would deliver it (through the API).
    deploy = requests.post(f"{live_server.url}/v1/apps/{app_id}/builds/", timeout=30,
                           headers=_api_token(live_server, page.username, page.password),
                           json={"image": "registry.example/web:1", "procfile": {"web": "httpd -f", "worker": "w"}})
    assert deploy.status_code == 201, deploy.text

    page.reload()
    page.fill("#config-key", "GREETING")
    page.fill("#config-value", "hello from the browser")
    page.click("text=Add config")
    expect(page.get_by_text("Set GREETING: v3 is deployed.")).to_be_visible()
    expect(_row(page, "v3").get_by_text(f"{page.username} added GREETING")).to_be_visible()
    assert page.locator("input[aria-label='value of GREETING']").input_value() == "hello from the browser"

    page.fill("input[aria-label='value of GREETING']", "changed")
    _row(page, "GREETING").get_by_text("Save").click()
    expect(page.get_by_text("Set GREETING: v4 is deployed.")).to_be_visible()
    expect(_row(page, "v4").get_by_text(f"{page.username} changed GREETING")).to_be_visible()

    page.fill("#config-key", "2BAD")
    page.fill("#config-value", "x")
    page.click("text=Add config")  # the API's own validation message, field named
    expect(page.get_by_text("values: Config keys must start with a letter or underscore")).to_be_visible()

    page.fill("#scale-web", "2")
    page.fill("#scale-worker", "1")
    page.click("button:has-text('Scale')")
    expect(page.get_by_text("Scaled web=2 worker=1.")).to_be_visible()
    processes = page.locator("#processes + table")
    for name in ("web.1", "web.2", "worker.1"):
        row = processes.locator("tr", has_text=name)
        expect(row.get_by_text("up", exact=True)).to_be_visible()
        expect(row.get_by_text("healthy")).to_be_visible()
    page.fill("#scale-web", "500")
    page.click("button:has-text('Scale')")
    expect(page.get_by_text("web: Must be between 0 and 100.")).to_be_visible()

    _row(page, "added GREETING").get_by_text("Roll back to v3").click()
    expect(page.get_by_text("Rolled back to v3: v5 is deployed.")).to_be_visible()
    expect(_row(page, "v5").get_by_text(f"{page.username} rolled back to v3")).to_be_visible()
    assert page.locator("input[aria-label='value of GREETING']").input_value() == "hello from the browser"
    expect(page.locator("pre.logs").get_by_text(f"{app_id}[app-layer]: v5 created")).to_be_visible()

    shot = tmp_path / "app-page.png"
    page.screenshot(path=str(shot), full_page=True)
    keep_screenshot(shot)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    visible = page.inner_text("body")  # what a person sees on the page that was captured
    for text in (app_id, "Processes", "web.2", "worker.1", "healthy", "Config", "GREETING", "Releases",
                 "rolled back to v3", "Roll back to v4", "Domains", f"http://{app_id}.example.test/", "Recent logs"):
        assert text in visible, text
    for heading in ("Processes", "Scale", "Config", "Releases", "Domains", "Recent logs"):
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()

    page.click("text=Remove >> nth=0")  # GREETING is the only config value
    expect(page.get_by_text("Removed GREETING: v6 is deployed.")).to_be_visible()
    expect(page.get_by_text("No config values.")).to_be_visible()


def test_domains_form(signed_up) -> None:
    page = signed_up
    app_id = unique("web-dom")
    page.fill("#new-app", app_id)
    page.click("text=Create app")
    page.wait_for_url(f"**/apps/{app_id}")
    name = f"{app_id}.example.org"
    page.fill("#domain", name)
    page.click("text=Add domain")
    expect(page.get_by_text(f"Added {name}.")).to_be_visible()
    page.fill("#domain", "*.example.org")
    page.click("text=Add domain")
    expect(page.get_by_text("domain: Adding a wildcard subdomain is currently not supported.")).to_be_visible()
    page.click(f"button[aria-label='remove {name}']")
    expect(page.get_by_text(f"Removed {name}.")).to_be_visible()
    assert page.locator("#domains + table").get_by_text(name).count() == 0


def test_keys_page(signed_up) -> None:
    page = signed_up
    page.click("text=SSH keys")
    page.wait_for_url("**/keys")
    expect(page.get_by_text("No keys yet.")).to_be_visible()
    public = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    page.fill("#key-id", "laptop")
    page.fill("#key-public", f"{public} me@laptop")
    page.click("text=Add key")
    expect(page.get_by_text(re.compile(r"Added key laptop \([0-9a-f:]{47}\)\."))).to_be_visible()
    page.fill("#key-id", "broken")
    page.fill("#key-public", "ssh-rsa not-base64!")
    page.click("text=Add key")
    expect(page.get_by_text("public: Incorrect padding")).to_be_visible()
    _row(page, "laptop").get_by_text("Remove").click()
    expect(page.get_by_text("Removed key laptop.")).to_be_visible()
    expect(page.get_by_text("No keys yet.")).to_be_visible()


def test_register_shows_the_api_validation_messages(page) -> None:
    page.goto("/register")
    page.fill("#username", "has space")
    page.fill("#email", "nope")
    page.fill("#password", "x")
    page.click("text=Create account")
    expect(page.get_by_text("username: Usernames may contain only letters, digits and @/./+/-/_.")).to_be_visible()
    expect(page.get_by_text("email: Not a valid email address.")).to_be_visible()


def test_pages_need_a_login_and_come_back_after_it(page, live_server) -> None:
    username = unique("webback")
    requests.post(f"{live_server.url}/v1/auth/register/", timeout=10,
                  data={"username": username, "password": "pw-1", "email": f"{username}@example.test"})
    page.goto("/keys")
    page.wait_for_url(re.compile(r"/login\?next=(%2F|/)keys$"))
    page.fill("#username", username)
    page.fill("#password", "pw-1")
    page.click("button:has-text('Log in')")
    page.wait_for_url("**/keys")
    page.goto("/apps/no-such-app-here")
    expect(page.get_by_text("Not found.")).to_be_visible()


def test_session_cookie_and_csrf(signed_up, live_server) -> None:
    page = signed_up
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["app_layer_session"]
    assert session["httpOnly"] is True and session["sameSite"] == "Lax"
    # The session cookie is not an API token: the API still answers 401 to it.
    assert page.request.get("/v1/apps/").status == 401
    assert page.request.get("/v1/").status == 401
    # A form posted without the session's CSRF token (as another site would) is refused.
    forged = page.request.post("/apps", form={"id": unique("web-forged")})
    assert forged.status == 400
    assert "did not come from this site" in forged.text()
    page.goto("/apps")
    assert page.get_by_text("web-forged").count() == 0
