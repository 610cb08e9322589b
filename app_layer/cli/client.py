"""The user verbs' link to a controller: the profile file and an HTTP client for the Deis v1 API.

The profile is ``~/.app-layer/<profile>.json`` (profile from ``APP_LAYER_PROFILE``, default
``client``), mode 0600, holding the controller URL, the username and the API token; the
platform's own state lives elsewhere. Every failure becomes a ``CliError`` whose ``code`` is
the process exit status (see ``EXIT_CODES``).
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import requests

#: Exit statuses of the user verbs (also documented in docs/cli.md).
EXIT_CODES = {
    0: "success",
    1: "the controller refused or failed the request (its message is printed)",
    2: "usage error: a bad option, argument or local file",
    3: "not logged in, or the saved token is no longer valid",
    4: "cannot reach the controller",
}
API_ERROR, USAGE, NOT_LOGGED_IN, CONNECTION = 1, 2, 3, 4
TIMEOUT = (10.0, 600.0)  # connect, read: rollouts may take minutes


class CliError(Exception):
    """A failure to report on stderr, exiting with ``code``."""

    def __init__(self, message: str, code: int = API_ERROR):
        super().__init__(message)
        self.message = message
        self.code = code


def profile_path() -> Path:
    name = os.environ.get("APP_LAYER_PROFILE") or "client"
    if not name.replace("-", "").replace("_", "").replace(".", "").isalnum() or name.startswith("."):
        raise CliError(f"APP_LAYER_PROFILE: {name!r} is not a valid profile name (letters, digits, -_.)", USAGE)
    return Path.home() / ".app-layer" / f"{name}.json"


@dataclass
class Profile:
    """What ``login`` remembers: where the controller is and who we are there."""

    controller: str | None = None
    username: str | None = None
    token: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls) -> Profile:
        path = profile_path()
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            raise CliError(f"cannot read {path}: {exc}", USAGE) from None
        if not isinstance(data, dict):
            raise CliError(f"{path} is not a JSON object", USAGE)
        known = {k: data.pop(k, None) for k in ("controller", "username", "token")}
        return cls(**known, extra=data)

    def save(self) -> None:
        path = profile_path()
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"controller": self.controller, "username": self.username, "token": self.token,
                       **self.extra}, fh, indent=2)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)


def normalize_url(url: str) -> str:
    """``host:port`` or ``http(s)://host[:port]`` -> ``scheme://host:port`` (any path is dropped)."""
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CliError(f"{url!r} is not a controller URL (expected http://host:port)", USAGE)
    return f"{parts.scheme}://{parts.netloc}"


def error_message(response: requests.Response) -> str:
    """The API's own words: ``{"detail": ...}`` or each ``field: message``, under the status line."""
    head = f"{response.status_code} {response.reason}"
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return f"{head}\n{text[:2000]}" if text else head
    lines: list[str] = []
    if isinstance(body, dict):
        for key, value in body.items():
            msgs = value if isinstance(value, list) else [value]
            for msg in msgs:
                lines.append(str(msg) if key in ("detail", "non_field_errors", "error") else f"{key}: {msg}")
    elif body:
        lines.append(str(body))
    return "\n".join([head, *lines])


class Client:
    """Calls the controller's ``/v1/`` API as the profile's user."""

    def __init__(self, profile: Profile, need_login: bool = True):
        if need_login and not (profile.controller and profile.token):
            raise CliError("Not logged in. Run: app-layer login <controller URL>", NOT_LOGGED_IN)
        self.profile = profile
        self.http = requests.Session()
        self.http.headers["User-Agent"] = "app-layer-cli"

    @property
    def base(self) -> str:
        if not self.profile.controller:
            raise CliError("No controller known. Run: app-layer login <controller URL>", NOT_LOGGED_IN)
        return self.profile.controller

    def url(self, path: str) -> str:
        return urljoin(self.base + "/", path.lstrip("/"))

    def request(self, method: str, path: str, *, expect: tuple[int, ...] = (200, 201, 204),
                auth: bool = True, **kwargs: Any) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if auth and self.profile.token:
            headers["Authorization"] = f"token {self.profile.token}"
        target = path if path.startswith(("http://", "https://")) else self.url(path)
        try:
            response = self.http.request(method, target, headers=headers, timeout=TIMEOUT, **kwargs)
        except requests.ConnectionError as exc:
            raise CliError(f"Cannot reach the controller at {self.base}: {_reason(exc)}", CONNECTION) from None
        except requests.Timeout:
            raise CliError(f"The controller at {self.base} did not answer in time.", CONNECTION) from None
        if response.status_code in expect:
            return response
        if response.status_code == 401 and auth:
            raise CliError(f"{error_message(response)}\nLog in again: app-layer login {self.base}", NOT_LOGGED_IN)
        raise CliError(error_message(response), API_ERROR)

    def get(self, path: str, **kw: Any) -> Any:
        return _json(self.request("GET", path, **kw))

    def post(self, path: str, body: dict[str, Any] | None = None, **kw: Any) -> requests.Response:
        return self.request("POST", path, json=body if body is not None else {}, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.request("DELETE", path, **kw)

    def pages(self, path: str) -> Iterator[dict[str, Any]]:
        """Every result of a paginated list, following ``next`` links."""
        url: str | None = self.url(path) + "?page_size=1000"
        while url:
            page = _json(self.request("GET", url))
            yield from page.get("results", [])
            url = page.get("next")

    def check_controller(self) -> None:
        """A controller answers ``GET /v1/`` without a token with 401, as the Deis clients check."""
        response = self.request("GET", "/v1/", expect=(401, 200, 404, 301, 302, 403, 500, 502, 503), auth=False)
        if response.status_code != 401:
            raise CliError(f"{self.base} does not appear to be an app-layer controller "
                           f"(GET /v1/ answered {response.status_code}, expected 401).", CONNECTION)


def app_path(app: str, *rest: str) -> str:
    parts = [quote(app, safe="")] + [quote(p, safe="") for p in rest]
    return "/v1/apps/" + "/".join(parts) + "/"


def _json(response: requests.Response) -> Any:
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise CliError(f"The controller sent something that is not JSON ({response.status_code}).") from None


def _reason(exc: Exception) -> str:
    text = str(exc)
    for hint in ("Connection refused", "Name or service not known", "No route to host", "timed out"):
        if hint in text:
            return hint
    return text.splitlines()[0][:200] if text else type(exc).__name__
