"""git push and clone over HTTP (``/<app>.git`` through git http-backend), the API token as password."""
from __future__ import annotations

import requests

from tests.builds.conftest import Controller, Dev
from tests.builds.test_ssh_push import builds, releases


def test_push_over_http_builds_and_releases_with_streamed_output(builder: Controller, dev: Dev, docker_images):
    app = dev.create_app()
    work = dev.source(app, docker_images.web, "over http")
    sha = dev.git("rev-parse", "HEAD", cwd=work).stdout.strip()

    done = dev.git("push", dev.http_remote(app), "master", cwd=work)

    assert done.returncode == 0, done.stderr
    assert f"remote: -----> Building {app} {sha[:8]} from its Dockerfile" in done.stderr
    assert "Step 2/3 : COPY index.html /www/index.html" in done.stderr
    assert f"done, {app}:v2 deployed" in done.stderr
    assert builds(dev, app)[0]["sha"] == sha
    pushes_over_ssh_later = dev.git("push", dev.ssh_remote(app), "master", cwd=work)  # same repository
    assert pushes_over_ssh_later.returncode == 0 and "Everything up-to-date" in pushes_over_ssh_later.stderr

    cloned = dev.git("clone", dev.http_remote(app), "http-copy")
    assert cloned.returncode == 0, cloned.stderr
    assert (dev.home / "http-copy" / "index.html").read_text() == "over http\n"


def test_a_strangers_token_is_refused_before_anything_is_received(builder: Controller, dev: Dev, other_dev: Dev,
                                                                 docker_images):
    app = dev.create_app()
    work = other_dev.source(app, docker_images.web, "not yours")
    done = other_dev.git("push", other_dev.http_remote(app), "master", cwd=work)
    assert done.returncode != 0
    assert f"remote: {other_dev.username} may not push to {app}." in done.stderr
    assert "403" in done.stderr and "Writing objects" not in done.stderr
    assert [r["version"] for r in releases(dev, app)] == [1]

    done = other_dev.git("push", other_dev.http_remote(app, token="0" * 40), "master", cwd=work)
    assert done.returncode != 0 and "Invalid token" in done.stderr


def test_http_answers_git_only(builder: Controller, dev: Dev):
    app = dev.create_app()
    auth = (dev.username, dev.token)
    anonymous = requests.get(f"{builder.url}/{app}.git/info/refs?service=git-receive-pack", timeout=10)
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith("Basic")
    for path in ("info/refs", "HEAD", "objects/info/packs", "info/refs?service=git-upload-archive"):
        response = requests.get(f"{builder.url}/{app}.git/{path}", auth=auth, timeout=10)
        assert response.status_code == 404, path
    missing = requests.get(f"{builder.url}/nope-{app}.git/info/refs?service=git-upload-pack", auth=auth, timeout=10)
    assert missing.status_code == 404 and "There is no app named" in missing.text
    advert = requests.get(f"{builder.url}/{app}.git/info/refs?service=git-receive-pack", auth=auth, timeout=10)
    assert advert.status_code == 200
    assert advert.headers["Content-Type"] == "application/x-git-receive-pack-advertisement"
