"""A builder test bed: a real controller (``app-layer server``), the builder's sshd, the registry,
dockerd, and developers with SSH keys and git working copies.

The controller runs the memory scheduler by default; ``docker_controller`` runs one on the
Docker backend for the end-to-end test. Built images are removed at the end of the session.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import docker
import pytest
import requests

from app_layer.builds import repos
from app_layer.builds.config import BuilderConfig
from app_layer.settings import Settings
from tests.conftest import unique
from tests.fixtures.registry import free_port
from tests.fixtures.sshd import start_builder_sshd
from tests.support import http_ok, stop_process, wait_started

BUILDER_KEY = "builder-key-for-tests-" + os.urandom(8).hex()
PASSED_THROUGH = "YARN_APP_LAYER_TEST_SETTING"  # a name a build container should see (yarn is never run)
# A hello-world app for the Python buildpack (tests and bench/push.py): answers ``text`` on /.
FLASK_APP = """import os
from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello():
    return "{text}\\n"


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=int(os.environ["PORT"]))
"""


@dataclass
class Controller:
    url: str
    settings: Settings
    admin_token: str
    ssh_port: int = 0

    def api(self, method: str, path: str, token: str | None = None, **kw) -> requests.Response:  # type: ignore[no-untyped-def]
        headers = {"Authorization": f"token {token or self.admin_token}"}
        return requests.request(method, self.url + path, headers=headers, timeout=30, **kw)


def _start_controller(root: Path, registry: str, scheduler: str,
                      extra_env: dict[str, str] | None = None) -> tuple[subprocess.Popen, Controller]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APP_LAYER_", "MARATHON_", "FLEET_"))}
    env.update(APP_LAYER_DATA_DIR=str(root / "data"), APP_LAYER_SCHEDULER=scheduler, APP_LAYER_REGISTRY=registry,
               APP_LAYER_API_PORT=str(port), APP_LAYER_DOMAIN="builds.test", APP_LAYER_BUILDER_KEY=BUILDER_KEY,
               APP_LAYER_DEPLOY_TIMEOUT="60", HOME=str(root))
    env.update(extra_env or {})
    log = (root / "controller.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "app_layer.cli.main", "server", "--host", "127.0.0.1",
                             "--port", str(port), "--workers", "1"], env=env, stdout=log,
                            stderr=subprocess.STDOUT, cwd=root)
    url = f"http://127.0.0.1:{port}"
    wait_started(proc, http_ok(f"{url}/healthz"), "controller", root / "controller.log", deadline=60)
    admin = unique("admin")
    requests.post(f"{url}/v1/auth/register/", data={"username": admin, "password": "pw-admin-1",
                                                    "email": f"{admin}@example.test"}, timeout=10)
    token = requests.post(f"{url}/v1/auth/login/", data={"username": admin, "password": "pw-admin-1"},
                          timeout=10).json()["token"]
    return proc, Controller(url, Settings.from_env(env), token)


@pytest.fixture(scope="session")
def builder(docker_registry: str, docker_images) -> Iterator[Controller]:  # type: ignore[no-untyped-def]
    """The controller (memory scheduler) with the builder's sshd in front of it."""
    root = Path(tempfile.mkdtemp(prefix="app-layer-builds-"))
    proc, controller = _start_controller(root, docker_registry, "memory")
    try:
        with start_builder_sshd(controller.settings, free_port(), controller.url) as port:
            controller.ssh_port = port
            yield controller
    finally:
        stop_process(proc, 15)
        _remove_images(docker_registry)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def docker_controller(docker_registry: str, docker_images) -> Iterator[Controller]:  # type: ignore[no-untyped-def]
    """A controller on the Docker backend (git over HTTP only)."""
    root = Path(tempfile.mkdtemp(prefix="app-layer-builds-docker-"))
    # A package-index setting of the controller's environment (the buildpack pass-through test),
    # and local buildpacks allowed from the temporary directory (the custom buildpack test).
    extra = {PASSED_THROUGH: "yes-passed", "APP_LAYER_BUILDPACK_PATHS": tempfile.gettempdir()}
    proc, controller = _start_controller(root, docker_registry, "docker", extra)
    try:
        yield controller
    finally:
        stop_process(proc, 15)
        _remove_images(docker_registry)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def stack_image() -> str:
    """The buildpack stack image, built once (mmdebstrap, a few minutes) and then reused by its
    content-derived name across runs, like ``app-layer stack build`` does."""
    from app_layer.builds import stack

    return stack.ensure(lambda line: print(line, flush=True))


def _remove_images(registry: str) -> None:
    api = docker.APIClient(version="auto")
    for image in api.images(filters={"label": "app-layer.app"}):
        for tag in image.get("RepoTags") or []:
            if tag.startswith((registry + "/", "app-layer-deps/")):
                try:
                    api.remove_image(tag, force=True)
                except docker.errors.APIError:
                    pass
    api.close()


@dataclass
class Dev:
    """A developer: an account on the controller, an SSH key, a home for git."""

    controller: Controller
    username: str
    token: str
    home: Path
    key: Path
    apps: list[str] = field(default_factory=list)

    def api(self, method: str, path: str, **kw) -> requests.Response:  # type: ignore[no-untyped-def]
        return self.controller.api(method, path, token=self.token, **kw)

    def add_key(self) -> None:
        public = self.key.with_suffix(".pub").read_text().strip()
        response = self.api("POST", "/v1/keys/", json={"id": f"{self.username}-key", "public": public})
        assert response.status_code == 201, response.text

    def create_app(self, prefix: str = "app") -> str:
        app = unique(f"{prefix}-{os.urandom(2).hex()}")
        response = self.api("POST", "/v1/apps/", json={"id": app})
        assert response.status_code == 201, response.text
        self.apps.append(app)
        return app

    @property
    def env(self) -> dict[str, str]:
        ssh = (f"ssh -i {self.key} -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
               f"-o BatchMode=yes -o LogLevel=ERROR -p {self.controller.ssh_port}")
        return {"PATH": os.environ["PATH"], "HOME": str(self.home), "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_TERMINAL_PROMPT": "0", "GIT_SSH_COMMAND": ssh, "LANG": "C.UTF-8",
                "GIT_AUTHOR_NAME": self.username, "GIT_AUTHOR_EMAIL": f"{self.username}@example.test",
                "GIT_COMMITTER_NAME": self.username, "GIT_COMMITTER_EMAIL": f"{self.username}@example.test"}

    def git(self, *args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=cwd or self.home, env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def ssh_remote(self, app: str) -> str:
        """The remote the Deis clients set (a leading slash in the path git sends)."""
        return f"ssh://git@127.0.0.1:{self.controller.ssh_port}/{app}.git"

    def http_remote(self, app: str, token: str | None = None) -> str:
        host = self.controller.url.removeprefix("http://")
        return f"http://{self.username}:{token or self.token}@{host}/{app}.git"

    def source(self, app: str, base: str, text: str, dockerfile: str | None = None) -> Path:
        """A fresh working copy with a Dockerfile app that serves ``text`` (one commit)."""
        work = Path(tempfile.mkdtemp(prefix=f"{app}-", dir=self.home))
        self.git("init", "-q", "-b", "master", str(work))
        (work / "index.html").write_text(text + "\n")
        (work / "Dockerfile").write_text(dockerfile if dockerfile is not None else
                                         f"FROM {base}\nCOPY index.html /www/index.html\n")
        self.commit(work, "first")
        return work

    def commit(self, work: Path, message: str) -> str:
        self.git("add", "-A", cwd=work)
        done = self.git("commit", "-q", "-m", message, cwd=work)
        assert done.returncode == 0, done.stderr
        return self.git("rev-parse", "HEAD", cwd=work).stdout.strip()


def make_dev(controller: Controller, with_key: bool = True) -> Dev:
    username = unique(f"dev{os.urandom(2).hex()}")
    response = requests.post(f"{controller.url}/v1/auth/register/", timeout=10, data={
        "username": username, "password": "pw-dev-123", "email": f"{username}@example.test"})
    assert response.status_code == 201, response.text
    token = requests.post(f"{controller.url}/v1/auth/login/", data={"username": username, "password": "pw-dev-123"},
                          timeout=10).json()["token"]
    home = Path(tempfile.mkdtemp(prefix=f"{username}-"))
    key = home / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-N", "", "-t", "ed25519", "-C", username, "-f", str(key)], check=True)
    dev = Dev(controller, username, token, home, key)
    if with_key:
        dev.add_key()
    return dev


@pytest.fixture
def dev(builder: Controller) -> Iterator[Dev]:
    person = make_dev(builder)
    yield person
    shutil.rmtree(person.home, ignore_errors=True)


@pytest.fixture
def other_dev(builder: Controller) -> Iterator[Dev]:
    person = make_dev(builder)
    yield person
    shutil.rmtree(person.home, ignore_errors=True)


@contextmanager
def holding_push_lock(controller: Controller, app: str) -> Iterator[None]:
    """Hold the app's push lock, as a push in progress does."""
    with repos.push_lock(BuilderConfig.from_settings(controller.settings).locks, app, lambda: None):
        yield


class StreamedPush:
    """A ``git push`` running in the background whose output is read line by line as it comes."""

    def __init__(self, dev: Dev, work: Path, *args: str):
        self.lines: list[tuple[float, str]] = []
        self.proc = subprocess.Popen(["git", "push", "--progress", *args], cwd=work, env=dev.env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append((time.monotonic(), line.rstrip("\n")))
                self.cond.notify_all()

    def wait_for(self, text: str, deadline: float = 120) -> float:
        """When the first line containing ``text`` arrived (fails after ``deadline`` seconds)."""
        until = time.monotonic() + deadline
        with self.cond:
            while True:
                for when, line in self.lines:
                    if text in line:
                        return when
                left = until - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self.reader.is_alive()):
                    raise AssertionError(f"no {text!r} in push output:\n{self.output}")
                self.cond.wait(min(left, 0.5))

    def finish(self, timeout: float = 300) -> int:
        code = self.proc.wait(timeout)
        self.reader.join(10)
        return code

    @property
    def output(self) -> str:
        return "\n".join(line for _, line in self.lines)
