"""Buildpack builds on the locally built stack, for real: push over git HTTP to a controller on the
Docker backend, the built image runs, curl reaches it; the dependency cache; the release phase."""
from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
from pathlib import Path

import pytest
import requests

from app_layer.backends.base import State
from app_layer.backends.docker import DockerBackend
from app_layer.builds import buildpack
from tests.builds.conftest import FLASK_APP, PASSED_THROUGH, Controller, Dev, make_dev


def serving(app: str, version: int, deadline: float = 30) -> str:
    """What the app's process of release ``version`` answers at its own address."""
    until = time.monotonic() + deadline
    backend = DockerBackend()
    try:
        while True:
            procs = [p for p in backend.processes(app) if p.version == version and p.state is State.UP and p.port]
            if procs:
                try:
                    return requests.get(f"http://{procs[0].host}:{procs[0].port}/", timeout=10).text
                except requests.ConnectionError:
                    pass
            assert time.monotonic() < until, f"no running process of {app} v{version} answers"
            time.sleep(0.2)
    finally:
        backend.close()


@pytest.fixture
def bp_dev(docker_controller: Controller, stack_image: str):  # type: ignore[no-untyped-def]
    person = make_dev(docker_controller, with_key=False)
    yield person
    for app in person.apps:
        person.api("DELETE", f"/v1/apps/{app}/")
    shutil.rmtree(person.home, ignore_errors=True)


def working_copy(dev: Dev, app: str, files: dict[str, str]) -> Path:
    work = Path(tempfile.mkdtemp(prefix=f"{app}-", dir=dev.home))
    dev.git("init", "-q", "-b", "master", str(work))
    write(work, files)
    dev.commit(work, "first")
    return work


def write(work: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(text)


def push(dev: Dev, app: str, work: Path):  # type: ignore[no-untyped-def]
    return dev.git("push", dev.http_remote(app), "master", cwd=work, timeout=900)


def test_python_app_then_a_code_only_change_reuses_the_dependency_cache(bp_dev: Dev, docker_images):
    app = bp_dev.create_app(prefix=docker_images.prefix)
    work = working_copy(bp_dev, app, {"requirements.txt": "flask==3.0.3\n",
                                      "app.py": FLASK_APP.format(text="hello from flask")})

    done = push(bp_dev, app, work)

    assert done.returncode == 0, done.stderr
    out = done.stderr
    assert "-----> Python app detected" in out
    assert "Installing dependencies from requirements.txt with pip" in out
    assert re.search(r"Successfully installed .*[Ff]lask-3\.0\.3", out), out
    assert "Process types: web" in out
    assert f"done, {app}:v2 deployed" in out
    assert serving(app, 2) == "hello from flask\n"

    write(work, {"app.py": FLASK_APP.format(text="new code, same dependencies")})
    bp_dev.commit(work, "code only")
    done = push(bp_dev, app, work)

    assert done.returncode == 0, done.stderr
    out = done.stderr
    assert "requirements.txt unchanged: reusing the cached virtualenv" in out
    assert "Dependencies unchanged: reusing their image layer" in out
    assert not re.search(r"Collecting|Downloading|Installing collected", out), out  # pip never ran
    assert serving(app, 3) == "new code, same dependencies\n"


def test_node_app_with_a_dependency(bp_dev: Dev, docker_images):
    app = bp_dev.create_app(prefix=docker_images.prefix)
    server = ("const http = require('http');\nconst ms = require('ms');\n"
              "http.createServer((req, res) => res.end('node says ' + ms(60000) + '\\n'))"
              ".listen(process.env.PORT);\n")
    package = {"name": "hello", "version": "1.0.0", "dependencies": {"ms": "2.1.3"},
               "scripts": {"start": "node server.js"}}
    work = working_copy(bp_dev, app, {"package.json": json.dumps(package), "server.js": server})

    done = push(bp_dev, app, work)

    assert done.returncode == 0, done.stderr
    assert "-----> Node.js app detected" in done.stderr
    assert "Installing dependencies with npm" in done.stderr
    assert serving(app, 2) == "node says 1m\n"

    write(work, {"server.js": server.replace("node says", "node now says")})
    bp_dev.commit(work, "code only")
    done = push(bp_dev, app, work)
    assert done.returncode == 0, done.stderr
    assert "package.json unchanged: reusing the cached node_modules" in done.stderr
    assert "Dependencies unchanged: reusing their image layer" in done.stderr
    assert "Installing dependencies with npm" not in done.stderr
    assert serving(app, 3) == "node now says 1m\n"


def test_static_site_with_a_release_phase(bp_dev: Dev, docker_images):
    app = bp_dev.create_app(prefix=docker_images.prefix)
    work = working_copy(bp_dev, app, {"public/index.html": "<h1>static</h1>\n", "README.md": "a site\n",
                                      "Procfile": "release: echo release phase ran\n"})

    done = push(bp_dev, app, work)

    assert done.returncode == 0, done.stderr
    assert "-----> Static site app detected" in done.stderr
    assert "Process types: release, web" in done.stderr
    assert serving(app, 2) == "<h1>static</h1>\n"

    # A release phase that fails stops the rollout: its output is shown and v2 keeps serving.
    write(work, {"Procfile": "release: echo migrating the database; exit 3\n", "public/index.html": "<h1>new</h1>\n"})
    bp_dev.commit(work, "failing release phase")
    done = push(bp_dev, app, work)

    assert done.returncode != 0
    assert "release phase" in done.stderr and "status 3" in done.stderr, done.stderr
    assert "migrating the database" in done.stderr
    assert "Push rejected" in done.stderr
    assert serving(app, 2) == "<h1>static</h1>\n"
    history = bp_dev.api("GET", f"/v1/apps/{app}/releases/").json()["results"]
    assert [(r["version"], r["state"]) for r in history][:2] == [(3, "failed"), (2, "deployed")]


def test_custom_buildpack_from_a_local_path(bp_dev: Dev, docker_images):
    pack = Path(tempfile.mkdtemp(prefix="custom-buildpack-", dir=bp_dev.home))
    (pack / "bin").mkdir()
    (pack / "bin" / "detect").write_text("#!/bin/sh\necho Custom\n")
    (pack / "bin" / "compile").write_text(
        '#!/bin/sh\nset -e\necho "-----> Custom compile"\nmkdir -p "$1/www"\n'
        'echo "ca bundle: $NODE_EXTRA_CA_CERTS $PIP_CERT $(test -s "$SSL_CERT_FILE" && echo present)"\n'
        f'echo "passed through: ${PASSED_THROUGH}"\n'
        '{ printf "built by a custom buildpack for "; cat "$3/GREETING"; } > "$1/www/index.html"\n')
    (pack / "bin" / "release").write_text(
        "#!/bin/sh\nprintf 'default_process_types:\\n  web: exec busybox httpd -f -p $PORT -h /app/www\\n'\n")
    pack.chmod(0o755)
    app = bp_dev.create_app(prefix=docker_images.prefix)
    response = bp_dev.api("POST", f"/v1/apps/{app}/config/",
                          json={"values": {"BUILDPACK_URL": str(pack), "GREETING": "Ada"}})
    assert response.status_code == 201, response.text
    work = working_copy(bp_dev, app, {"requirements.txt": "flask\n"})  # the custom pack wins over detection

    done = push(bp_dev, app, work)

    assert done.returncode == 0, done.stderr
    assert "-----> Custom app detected" in done.stderr
    assert "-----> Custom compile" in done.stderr
    assert "passed through: yes-passed" in done.stderr  # the controller's environment reaches the build
    if Path(buildpack.CA_BUNDLE).is_file():  # the host's CA bundle, mounted and named
        assert f"ca bundle: {buildpack.CA_BUNDLE} {buildpack.CA_BUNDLE} present" in done.stderr
    assert serving(app, 3) == "built by a custom buildpack for Ada"


def test_malformed_procfile_and_undetected_app_are_refused_clearly(bp_dev: Dev, docker_images):
    app = bp_dev.create_app(prefix=docker_images.prefix)
    work = working_copy(bp_dev, app, {"index.html": "hi\n", "Procfile": "web: [unclosed\n"})
    done = push(bp_dev, app, work)
    assert done.returncode != 0
    assert "Procfile" in done.stderr and "not valid" in done.stderr, done.stderr
    assert "Push rejected" in done.stderr

    write(work, {"Procfile": "web server: busybox httpd\n"})
    bp_dev.commit(work, "bad type")
    done = push(bp_dev, app, work)
    assert done.returncode != 0
    assert "Process type 'web server' must match" in done.stderr, done.stderr

    other = bp_dev.create_app(prefix=docker_images.prefix)
    work = working_copy(bp_dev, other, {"README.md": "nothing to run\n"})
    done = push(bp_dev, other, work)
    assert done.returncode != 0
    assert "No buildpack detected this app" in done.stderr, done.stderr
    assert "requirements.txt" in done.stderr and "package.json" in done.stderr
    assert bp_dev.api("GET", f"/v1/apps/{other}/releases/").json()["results"][0]["version"] == 1
