"""Account verbs: register, login, logout, whoami, users:list, keys:*, perms:*."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import click

from app_layer.cli.client import NOT_LOGGED_IN, USAGE, Client, CliError, Profile, app_path, normalize_url
from app_layer.cli.common import app_of, app_option, client, verb
from app_layer.cli.output import json_option, note, show, table


def _controller(url: str | None, profile: Profile) -> str:
    if url:
        return normalize_url(url)
    if profile.controller:
        return profile.controller
    raise CliError("Give the controller URL, e.g. app-layer login http://127.0.0.1:8000", USAGE)


def _login(api: Client, username: str, password: str) -> None:
    response = api.request("POST", "/v1/auth/login/", data={"username": username, "password": password},
                           auth=False, expect=(200,))
    api.profile.username = username
    api.profile.token = response.json()["token"]
    api.profile.save()


@verb("register")
@click.argument("controller", required=False)
@click.option("--username", prompt=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--email", prompt=True)
def register(controller: str | None, username: str, password: str, email: str) -> None:
    """Create an account on a controller and log in to it."""
    profile = Profile.load()
    profile.controller = _controller(controller, profile)
    api = Client(profile, need_login=False)
    api.check_controller()
    api.request("POST", "/v1/auth/register/", data={"username": username, "password": password, "email": email},
                auth=bool(profile.token), expect=(201,))
    profile.token = None
    _login(api, username, password)
    note(f"Registered {username}")
    note(f"Logged in as {username} at {profile.controller}")


@verb("login")
@click.argument("controller", required=False)
@click.option("--username", prompt=True)
@click.option("--password", prompt=True, hide_input=True)
def login(controller: str | None, username: str, password: str) -> None:
    """Log in to a controller (the URL is remembered in the profile)."""
    profile = Profile.load()
    profile.controller = _controller(controller, profile)
    api = Client(profile, need_login=False)
    api.check_controller()
    _login(api, username, password)
    note(f"Logged in as {username} at {profile.controller}")


@verb("logout")
def logout() -> None:
    """Forget the saved token (the controller URL is kept)."""
    profile = Profile.load()
    profile.username = None
    profile.token = None
    profile.save()
    note("Logged out")


@verb("whoami")
@json_option
def whoami(as_json: bool) -> None:
    """Who this profile is logged in as, and where."""
    profile = Profile.load()
    if not profile.token:
        raise CliError("Not logged in. Run: app-layer login <controller URL>", NOT_LOGGED_IN)
    show({"username": profile.username, "controller": profile.controller}, as_json,
         lambda d: f"You are {d['username']} at {d['controller']}")


@verb("users:list")
@json_option
def users_list(as_json: bool) -> None:
    """Every user of the platform (admins only)."""
    rows = list(client().pages("/v1/users/"))
    show(rows, as_json, lambda rs: table(
        [(u["username"], u["email"], u["is_superuser"], u["date_joined"]) for u in rs],
        ("USERNAME", "EMAIL", "ADMIN", "JOINED")))


# --- keys ---------------------------------------------------------------------------------------


def _default_key() -> Path:
    found = sorted((Path.home() / ".ssh").glob("id_*.pub"))
    if not found:
        raise CliError("No public key given and none found as ~/.ssh/id_*.pub (ssh-keygen makes one).", USAGE)
    if len(found) > 1:
        names = ", ".join(str(p) for p in found)
        raise CliError(f"Several public keys found ({names}); name the one to add.", USAGE)
    return found[0]


@verb("keys:add")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path), required=False)
@click.option("--id", "key_id", help="a name for the key (default: its comment, else the file name)")
def keys_add(path: Path | None, key_id: str | None) -> None:
    """Add an SSH public key for git push (default: the one ~/.ssh/id_*.pub)."""
    path = path or _default_key()
    try:
        public = path.read_text().strip()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}", USAGE) from None
    fields = public.split()
    name = key_id or (fields[2] if len(fields) > 2 else path.stem)
    key = client().post("/v1/keys/", {"id": name, "public": public}, expect=(201,)).json()
    note(f"Added key {key['id']} ({key['fingerprint']})")


@verb("keys:list")
@json_option
def keys_list(as_json: bool) -> None:
    """Your SSH keys."""
    rows = list(client().pages("/v1/keys/"))
    show(rows, as_json, lambda rs: table([(k["id"], k["fingerprint"], k["public"][:40] + "...") for k in rs],
                                         ("ID", "FINGERPRINT", "KEY")))


@verb("keys:remove")
@click.argument("key_id")
def keys_remove(key_id: str) -> None:
    """Remove one of your SSH keys by its id."""
    client().delete(f"/v1/keys/{quote(key_id, safe='')}/", expect=(204,))
    note(f"Removed key {key_id}")


# --- perms --------------------------------------------------------------------------------------


@verb("perms:list")
@app_option
@click.option("--admin", is_flag=True, help="list platform administrators instead")
@json_option
def perms_list(app: str | None, admin: bool, as_json: bool) -> None:
    """Who may use an app (or, with --admin, who administers the platform)."""
    api = client()
    if admin:
        users = [u["username"] for u in api.pages("/v1/admin/perms/")]
        show(users, as_json, lambda us: "=== Administrators\n" + "\n".join(us))
        return
    app_id = app_of(app)
    users = api.get(app_path(app_id, "perms"))["users"]
    show(users, as_json, lambda us: f"=== {app_id}'s Users\n" + "\n".join(us))


@verb("perms:create")
@click.argument("username")
@app_option
@click.option("--admin", is_flag=True, help="make the user a platform administrator")
def perms_create(username: str, app: str | None, admin: bool) -> None:
    """Let a user use an app (or, with --admin, administer the platform)."""
    api = client()
    if admin:
        api.post("/v1/admin/perms/", {"username": username}, expect=(201,))
        note(f"{username} is now an administrator")
        return
    app_id = app_of(app)
    api.post(app_path(app_id, "perms"), {"username": username}, expect=(201,))
    note(f"Added {username} to {app_id}")


@verb("perms:delete")
@click.argument("username")
@app_option
@click.option("--admin", is_flag=True, help="take the user's administrator rights away")
def perms_delete(username: str, app: str | None, admin: bool) -> None:
    """Stop a user from using an app (or, with --admin, from administering the platform)."""
    api = client()
    if admin:
        api.delete(f"/v1/admin/perms/{quote(username, safe='')}/", expect=(204,))
        note(f"{username} is no longer an administrator")
        return
    app_id = app_of(app)
    api.delete(app_path(app_id, "perms", username), expect=(204,))
    note(f"Removed {username} from {app_id}")
