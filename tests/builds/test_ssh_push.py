"""git push over SSH to the builder's sshd: build, registry, release; refusals before any object moves."""
from __future__ import annotations

import subprocess
from pathlib import Path

import requests

from tests.builds.conftest import Controller, Dev, StreamedPush, holding_push_lock, make_dev


def releases(dev: Dev, app: str) -> list[dict]:
    response = dev.api("GET", f"/v1/apps/{app}/releases/")
    assert response.status_code == 200, response.text
    return response.json()["results"]


def builds(dev: Dev, app: str) -> list[dict]:
    response = dev.api("GET", f"/v1/apps/{app}/builds/")
    assert response.status_code == 200, response.text
    return response.json()["results"]


def registry_tags(builder: Controller, app: str) -> list[str]:
    response = requests.get(f"http://{builder.settings.registry}/v2/{app}/tags/list", timeout=10)
    return response.json().get("tags") or [] if response.status_code == 200 else []


def test_push_builds_the_dockerfile_pushes_the_image_and_releases(builder: Controller, dev: Dev, docker_images):
    app = dev.create_app()
    work = dev.source(app, docker_images.web, "version one")
    sha = dev.git("rev-parse", "HEAD", cwd=work).stdout.strip()

    done = dev.git("push", dev.ssh_remote(app), "master", cwd=work)

    assert done.returncode == 0, done.stderr
    out = done.stderr
    assert f"-----> Building {app} {sha[:8]} from its Dockerfile" in out
    assert "COPY index.html /www/index.html" in out  # docker build's own output, streamed
    assert f"-----> Pushing image {builder.settings.registry}/{app}:git-{sha[:8]}" in out
    assert "-----> Launching..." in out
    assert f"done, {app}:v2 deployed" in out
    assert f"http://{app}.builds.test" in out
    [build] = builds(dev, app)
    assert build["sha"] == sha and build["image"] == f"{builder.settings.registry}/{app}:git-{sha[:8]}"
    assert "COPY index.html" in build["dockerfile"]
    assert releases(dev, app)[0]["version"] == 2
    assert registry_tags(builder, app) == [f"git-{sha[:8]}"]

    # A second push deploys the new code as the next release.
    (work / "index.html").write_text("version two\n")
    second = dev.commit(work, "second")
    done = dev.git("push", dev.ssh_remote(app), "master", cwd=work)
    assert done.returncode == 0, done.stderr
    assert f"done, {app}:v3 deployed" in done.stderr
    assert builds(dev, app)[0]["sha"] == second
    assert sorted(registry_tags(builder, app)) == sorted([f"git-{sha[:8]}", f"git-{second[:8]}"])


def test_git_forms_of_the_path_and_collaborator_clone(builder: Controller, dev: Dev, other_dev: Dev, docker_images):
    """``'<app>.git'`` (scp-style remote), ``'/<app>'`` (no .git); a collaborator may clone, a stranger not."""
    app = dev.create_app()
    work = dev.source(app, docker_images.web, "forms")
    done = dev.git("push", f"git@127.0.0.1:{app}.git", "master", cwd=work)
    assert done.returncode == 0, done.stderr
    (work / "index.html").write_text("forms two\n")
    dev.commit(work, "two")
    done = dev.git("push", f"ssh://git@127.0.0.1:{builder.ssh_port}/{app}", "master", cwd=work)
    assert done.returncode == 0, done.stderr
    assert f"done, {app}:v3 deployed" in done.stderr

    refused = other_dev.git("clone", other_dev.ssh_remote(app), "copy")
    assert refused.returncode != 0
    assert f"{other_dev.username} may not read {app}" in refused.stderr
    assert dev.api("POST", f"/v1/apps/{app}/perms/", json={"username": other_dev.username}).status_code == 201
    cloned = other_dev.git("clone", other_dev.ssh_remote(app), "copy")
    assert cloned.returncode == 0, cloned.stderr
    assert (other_dev.home / "copy" / "index.html").read_text() == "forms two\n"


def test_only_git_commands_run(builder: Controller, dev: Dev):
    app = dev.create_app()
    ssh = dev.env["GIT_SSH_COMMAND"].split() + ["git@127.0.0.1"]
    for command in ("sh -c id", f"git-receive-pack '{app}.git'; id", ""):  # more forms: test_builder_parts.py
        done = subprocess.run([*ssh, command] if command else ssh, capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
        assert done.returncode != 0, command
        assert "Only git push and git fetch/clone work here" in done.stderr, (command, done.stderr)
        assert "uid=" not in done.stdout


def test_unknown_app_and_unknown_key_are_refused(builder: Controller, dev: Dev, docker_images):
    work = dev.source("nothing", docker_images.web, "x")
    done = dev.git("push", dev.ssh_remote("no-such-app-here"), "master", cwd=work)
    assert done.returncode != 0
    assert "There is no app named 'no-such-app-here'" in done.stderr
    assert "Writing objects" not in done.stderr

    app = dev.create_app()
    stranger = make_dev(builder, with_key=False)
    work = stranger.source(app, docker_images.web, "x")
    done = stranger.git("push", stranger.ssh_remote(app), "master", cwd=work)
    assert done.returncode != 0
    assert "Permission denied (publickey)" in done.stderr
    assert "Writing objects" not in done.stderr


def test_a_strangers_key_is_refused_before_anything_is_received(builder: Controller, dev: Dev, other_dev: Dev,
                                                               docker_images):
    app = dev.create_app()
    work = other_dev.source(app, docker_images.web, "not yours")
    done = other_dev.git("push", other_dev.ssh_remote(app), "master", cwd=work)
    assert done.returncode != 0
    assert f"{other_dev.username} may not push to {app}" in done.stderr
    assert "Writing objects" not in done.stderr
    assert not (Path(builder.settings.data_dir) / "repos" / f"{app}.git").exists()
    assert [r["version"] for r in releases(dev, app)] == [1]


def test_a_failed_build_is_shown_and_leaves_the_running_release(builder: Controller, dev: Dev, docker_images):
    app = dev.create_app()
    work = dev.source(app, docker_images.web, "good")
    assert dev.git("push", dev.ssh_remote(app), "master", cwd=work).returncode == 0
    good = dev.git("rev-parse", "HEAD", cwd=work).stdout.strip()

    (work / "Dockerfile").write_text(f"FROM {docker_images.web}\nCOPY no-such-file /www/\n")
    dev.commit(work, "broken")
    done = dev.git("push", dev.ssh_remote(app), "master", cwd=work)

    assert done.returncode != 0
    assert "no-such-file" in done.stderr  # docker's reason, streamed
    assert "Push rejected" in done.stderr and "the running release is unchanged" in done.stderr
    history = releases(dev, app)
    assert [r["version"] for r in history] == [2, 1] and history[0]["state"] == "deployed"
    assert [b["sha"] for b in builds(dev, app)] == [good]
    remote_head = dev.git("ls-remote", dev.ssh_remote(app), "refs/heads/master", cwd=work).stdout.split()[0]
    assert remote_head == good  # the repository did not move either


def test_no_dockerfile_is_built_by_a_buildpack(builder: Controller, dev: Dev, docker_images, stack_image: str):
    app = dev.create_app()
    work = dev.source(app, docker_images.web, "no dockerfile")
    (work / "Dockerfile").unlink()
    (work / "Procfile").write_text("worker: sleep 1000\n")
    sha = dev.commit(work, "no Dockerfile")
    done = dev.git("push", dev.ssh_remote(app), "master", cwd=work)
    assert done.returncode == 0, done.stderr
    assert "-----> Static site app detected" in done.stderr
    assert "Process types: web, worker" in done.stderr  # the Procfile's over the buildpack's default
    [build] = builds(dev, app)
    assert build["sha"] == sha and build["dockerfile"] == ""  # run as a buildpack image: ``start <type>``
    assert build["procfile"]["worker"] == "sleep 1000" and "busybox httpd" in build["procfile"]["web"]
    assert registry_tags(builder, app) == [f"git-{sha[:8]}"]


def test_other_branches_are_stored_but_not_built(builder: Controller, dev: Dev, docker_images):
    app = dev.create_app()
    work = dev.source(app, docker_images.web, "topic")
    done = dev.git("push", dev.ssh_remote(app), "master:topic", cwd=work)
    assert done.returncode == 0, done.stderr
    assert "Pushed topic: only master or main deploy" in done.stderr
    assert builds(dev, app) == []
    done = dev.git("push", dev.ssh_remote(app), "master:main", cwd=work)
    assert done.returncode == 0, done.stderr
    assert f"done, {app}:v2 deployed" in done.stderr


def test_concurrent_pushes_to_one_app_are_serialized(builder: Controller, dev: Dev, docker_images):
    """While a push holds the app's lock (here: the test, standing in for a slow build), two more pushes
    wait, saying so; then each gets the refs as the other left them, builds and deploys, one after the other."""
    app = dev.create_app()
    one = dev.source(app, docker_images.web, "one")
    two = dev.source(app, docker_images.web, "two")
    with holding_push_lock(builder, app):
        first = StreamedPush(dev, one, "--force", dev.ssh_remote(app), "master")
        first.wait_for(f"Another push to {app} is in progress; waiting for it to finish")
        second = StreamedPush(dev, two, "--force", dev.ssh_remote(app), "master")
        second.wait_for(f"Another push to {app} is in progress; waiting for it to finish")
        assert "-----> Building" not in first.output + second.output
    assert first.finish() == 0, first.output
    assert second.finish() == 0, second.output
    earlier, later = sorted((first, second), key=lambda push: push.wait_for("deployed"))
    assert later.wait_for("-----> Building") > earlier.wait_for("deployed")
    assert [r["version"] for r in releases(dev, app)][:2] == [3, 2]
    assert len(builds(dev, app)) == 2
