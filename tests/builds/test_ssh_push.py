"""git push over SSH to the builder's sshd: build, registry, release; refusals before any object moves."""
from __future__ import annotations

import requests

from tests.builds.conftest import Controller, Dev


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
