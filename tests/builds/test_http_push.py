"""git push and clone over HTTP (``/<app>.git`` through git http-backend), the API token as password."""
from __future__ import annotations

import os

import requests

from tests.builds.conftest import Controller, Dev, StreamedPush, holding_push_lock
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


def test_a_large_push_over_http(builder: Controller, dev: Dev, docker_images):
    """Bigger than the API's body limit and git's post buffer: a chunked, streamed request body."""
    app = dev.create_app()
    work = dev.source(app, docker_images.web, "large")
    (work / "blob.bin").write_bytes(os.urandom(6 * 1024 * 1024))
    (work / ".dockerignore").write_text("blob.bin\n")
    dev.commit(work, "large")
    done = dev.git("push", dev.http_remote(app), "master", cwd=work)
    assert done.returncode == 0, done.stderr
    assert f"done, {app}:v2 deployed" in done.stderr


def test_concurrent_http_pushes_wait_and_never_deploy_a_stale_push(builder: Controller, dev: Dev, docker_images):
    """Over HTTP the refs were advertised before the wait: of two pushes that waited, the one overtaken is
    refused before it builds (its ref moved), so the deployed code is always what the repository holds."""
    app = dev.create_app()
    one = dev.source(app, docker_images.web, "one")
    two = dev.source(app, docker_images.web, "two")
    with holding_push_lock(builder, app):
        first = StreamedPush(dev, one, "--force", dev.http_remote(app), "master")
        first.wait_for(f"Another push to {app} is in progress; waiting for it to finish")
        second = StreamedPush(dev, two, "--force", dev.http_remote(app), "master")
        second.wait_for(f"Another push to {app} is in progress; waiting for it to finish")
    codes = sorted([(first.finish(), first), (second.finish(), second)], key=lambda pair: pair[0])
    (ok, winner), (failed, loser) = codes
    assert ok == 0 and failed != 0, first.output + second.output
    assert "refs/heads/master changed while this push waited; fetch, merge and push again" in loser.output
    assert "-----> Building" not in loser.output
    winner_sha = dev.git("rev-parse", "HEAD", cwd=one if winner is first else two).stdout.strip()
    assert [b["sha"] for b in builds(dev, app)] == [winner_sha]
    assert dev.git("ls-remote", dev.http_remote(app), "refs/heads/master").stdout.split()[0] == winner_sha
