"""Accounts from the command line: register, login, logout, whoami, keys, perms, users, exit codes."""
from __future__ import annotations

import functools
import http.server
import json
import socket
import stat
import threading

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519


def test_register_saves_a_private_profile_and_whoami_reads_it(cli) -> None:
    username = cli.register()
    path = cli.home / ".app-layer" / "client.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = json.loads(path.read_text())
    assert saved["controller"] == cli.server_url and saved["username"] == username
    assert len(saved["token"]) == 40
    assert cli.ok("whoami").stdout.strip() == f"You are {username} at {cli.server_url}"
    assert json.loads(cli.ok("whoami", "--json").stdout) == {"username": username, "controller": cli.server_url}


def test_logout_then_login_again(cli) -> None:
    username = cli.register(password="first-pw")
    cli.ok("logout")
    result = cli("apps:list")
    assert result.exit_code == 3
    assert "Not logged in" in result.stderr
    bad = cli("login", "--username", username, "--password", "wrong")
    assert bad.exit_code == 1
    assert "Unable to log in with provided credentials." in bad.stderr
    cli.ok("login", "--username", username, "--password", "first-pw")  # the controller URL was kept
    assert cli.ok("apps:list", "--json").stdout.strip() == "[]"


def test_profiles_are_separate(cli) -> None:
    first = cli.register()
    cli.env["APP_LAYER_PROFILE"] = "other"
    assert cli("whoami").exit_code == 3
    second = cli.register()
    assert cli.ok("whoami", "--json").stdout.count(second) == 1
    cli.env["APP_LAYER_PROFILE"] = "client"
    assert first in cli.ok("whoami").stdout


def test_exit_codes_for_unreachable_and_foreign_servers(cli, tmp_path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]  # bound, not listening: connections are refused
        result = cli("login", f"http://127.0.0.1:{closed}", "--username", "u", "--password", "p")
    assert result.exit_code == 4
    assert "Cannot reach the controller" in result.stderr

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as other:
        threading.Thread(target=other.serve_forever, daemon=True).start()
        try:
            foreign = cli("login", f"127.0.0.1:{other.server_address[1]}", "--username", "u", "--password", "p")
        finally:
            other.shutdown()
    assert foreign.exit_code == 4
    assert "does not appear to be an app-layer controller" in foreign.stderr


def test_revoked_token_exits_3_with_a_hint(user_cli, live_server) -> None:
    path = user_cli.home / ".app-layer" / "client.json"
    saved = json.loads(path.read_text())
    saved["token"] = "0" * 40
    path.write_text(json.dumps(saved))
    result = user_cli("apps:list")
    assert result.exit_code == 3
    assert "Invalid token." in result.stderr and f"app-layer login {live_server.url}" in result.stderr


def test_register_validation_message_from_the_api(cli) -> None:
    result = cli("register", cli.server_url, "--username", "bad name!", "--password", "x", "--email", "not-an-email")
    assert result.exit_code == 1
    assert "400" in result.stderr
    assert "username: Usernames may contain only letters" in result.stderr
    assert "email: Not a valid email address." in result.stderr


def _public_key(comment: str) -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    blob = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return f"{blob} {comment}"


def test_keys_add_default_list_remove(user_cli) -> None:
    ssh = user_cli.home / ".ssh"
    ssh.mkdir()
    (ssh / "id_ed25519.pub").write_text(_public_key(f"{user_cli.username}@laptop") + "\n")
    user_cli.ok("keys:add")
    listed = json.loads(user_cli.ok("keys:list", "--json").stdout)
    assert [k["id"] for k in listed] == [f"{user_cli.username}@laptop"]
    assert f"{user_cli.username}@laptop" in user_cli.ok("keys:list").stdout
    again = user_cli("keys:add", str(ssh / "id_ed25519.pub"), "--id", "second")
    assert again.exit_code == 1 and "public: This key is already in use." in again.stderr
    user_cli.ok("keys:remove", f"{user_cli.username}@laptop")
    assert json.loads(user_cli.ok("keys:list", "--json").stdout) == []
    missing = user_cli("keys:remove", "nope")
    assert missing.exit_code == 1 and "404" in missing.stderr


def test_keys_add_without_any_key_is_a_usage_error(user_cli) -> None:
    result = user_cli("keys:add")
    assert result.exit_code == 2
    assert "~/.ssh/id_*.pub" in result.stderr


def test_perms_share_an_app_and_take_it_back(cli, live_server) -> None:
    friend = cli.register()
    cli.ok("logout")
    owner = cli.register()
    app_id = cli.new_app("cli-perms")
    cli.ok("perms:create", friend, "-a", app_id)
    assert json.loads(cli.ok("perms:list", "-a", app_id, "--json").stdout) == [friend]
    cli.ok("login", "--username", friend, "--password", "pw-secret-1")
    assert app_id in cli.ok("apps:list").stdout
    destroy = cli("apps:destroy", "-a", app_id, "--confirm", app_id)
    assert destroy.exit_code == 1 and "403" in destroy.stderr  # collaborators may not destroy
    cli.ok("login", "--username", owner, "--password", "pw-secret-1")
    cli.ok("perms:delete", friend, "-a", app_id)
    assert json.loads(cli.ok("perms:list", "-a", app_id, "--json").stdout) == []
    not_admin = cli("perms:list", "--admin")
    assert not_admin.exit_code == 1 and "403" in not_admin.stderr


def test_admin_lists_users_and_grants_admin(cli, live_server) -> None:
    someone = cli.register()
    cli.ok("login", "--username", live_server.admin_username, "--password", live_server.admin_password)
    users = json.loads(cli.ok("users:list", "--json").stdout)
    assert {live_server.admin_username, someone} <= {u["username"] for u in users}
    cli.ok("perms:create", someone, "--admin")
    assert someone in json.loads(cli.ok("perms:list", "--admin", "--json").stdout)
    cli.ok("perms:delete", someone, "--admin")
    assert someone not in json.loads(cli.ok("perms:list", "--admin", "--json").stdout)
