"""The CLI as a user runs it: a fresh HOME per test, against the session's real controller."""
from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from app_layer.cli.main import main

_users = itertools.count(1)


class Cli:
    """``app-layer`` in-process (click's runner) with its own HOME, so its own profile file."""

    def __init__(self, home: Path, server_url: str):
        self.home = home
        self.server_url = server_url
        # The client reads APP_LAYER_SSH_PORT and APP_LAYER_ROUTER_PORT too: the defaults here.
        self.env: dict[str, str | None] = {"HOME": str(home), "APP_LAYER_PROFILE": "client",
                                           "APP_LAYER_SSH_PORT": None, "APP_LAYER_ROUTER_PORT": None}

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(main, list(args), input=input, env=self.env, catch_exceptions=False)

    def ok(self, *args: str, input: str | None = None) -> Result:
        result = self(*args, input=input)
        assert result.exit_code == 0, f"app-layer {' '.join(args)} -> {result.exit_code}\n{result.output}"
        return result

    def spawn(self, *args: str) -> subprocess.Popen:
        """The real console script in a child process (for ``logs -f`` and the like)."""
        env = {k: v for k, v in {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}.items() if v is not None}
        return subprocess.Popen([sys.executable, "-m", "app_layer.cli.main", *args], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def register(self, username: str | None = None, password: str = "pw-secret-1") -> str:
        username = username or f"user{next(_users)}"
        self.ok("register", self.server_url, "--username", username, "--password", password,
                "--email", f"{username}@example.test")
        return username

    def new_app(self, prefix: str = "app") -> str:
        """A new app of the logged-in user, with a name no other test uses."""
        app_id = f"{prefix}-{next(_users)}"
        self.ok("apps:create", app_id, "--no-remote")
        return app_id


@pytest.fixture
def cli(tmp_path: Path, live_server) -> Cli:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    home.mkdir()
    return Cli(home, live_server.url)


@pytest.fixture
def user_cli(cli: Cli) -> Cli:
    """A CLI already registered and logged in as a new user."""
    cli.username = cli.register()  # type: ignore[attr-defined]
    return cli
