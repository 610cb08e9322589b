"""The pre-receive hook: build what was pushed to master or main and release it.

git runs it after the pack is received and before any ref moves; everything it prints goes to
the git client (``remote: ...``) as it happens, and a non-zero exit rejects the push, so a
failed build leaves both the repository and the running release as they were.

Environment: ``RECEIVE_USER``, ``RECEIVE_REPO``, ``RECEIVE_FINGERPRINT`` and the builder config
(``BuilderConfig.to_env``), set by ``git-shell`` or by the controller's git HTTP route.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import requests

from app_layer.builds import buildpack, dockerfile, repos
from app_layer.builds.config import BuilderConfig, Controller, detail

ZERO = "0" * 40
MAX_DOCKERFILE = 64 * 1024


class Rejected(Exception):
    """The push is refused; the message is shown to the git client."""


@dataclass(frozen=True)
class Update:
    old: str
    new: str
    ref: str


def parse_updates(text: str) -> list[Update]:
    """pre-receive's stdin: one ``<old> <new> <ref>`` line per ref."""
    updates = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3:
            updates.append(Update(*parts))
    return updates


def step(message: str) -> None:
    print(f"-----> {message}", flush=True)


def info(message: str) -> None:
    print(f"       {message}", flush=True)


def current_sha(ref: str) -> str:
    done = subprocess.run(["git", "rev-parse", "--verify", "--quiet", ref], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else ZERO


def read_file(sha: str, name: str) -> str | None:
    """A top-level file of the pushed tree, from git itself (a symlink gives its target, never what it points at)."""
    done = subprocess.run(["git", "show", f"{sha}:{name}"], capture_output=True)
    return done.stdout.decode(errors="replace") if done.returncode == 0 else None


def checkout(sha: str, into: Path) -> None:
    """The tree of ``sha`` as files (``git archive | tar -x``; no shell)."""
    archive = subprocess.Popen(["git", "archive", "--format=tar", sha], stdout=subprocess.PIPE)
    untar = subprocess.run(["tar", "-x", "-C", str(into)], stdin=archive.stdout, capture_output=True)
    assert archive.stdout is not None
    archive.stdout.close()
    if archive.wait() != 0 or untar.returncode != 0:
        raise Rejected(f"could not check out {sha[:8]}: {untar.stderr.decode(errors='replace')[:300]}")


def _relay(line: str) -> None:
    """Buildpack output: its own ``----->`` and `` !`` lines as they are, the rest indented."""
    if line.startswith(("----->", " !", "       ")):
        print(line, flush=True)
    elif line.strip():
        info(line)


class Build:
    """One push of one app: audit, build, push the image, release."""

    def __init__(self, config: BuilderConfig, app_id: str, username: str, fingerprint: str):
        self.config, self.app, self.user, self.fingerprint = config, app_id, username, fingerprint
        self.controller = Controller(config)

    @property
    def cache_dir(self) -> Path:
        """The app's buildpack cache, kept between pushes (``<data_dir>/builder/cache/<app>``)."""
        return Path(self.config.locks).parent / "cache" / self.app

    @property
    def build_env(self) -> dict[str, str]:
        """This process's environment plus the proxy/index settings the builder config carries."""
        return {**self.config.build_environment(), **os.environ}

    def hook(self, path: str, body: dict, timeout: float = 30.0) -> dict:
        body = {"receive_user": self.user, "receive_repo": self.app, **body}
        try:
            status, answer = self.controller.call("POST", path, body, timeout=timeout)
        except requests.RequestException as exc:
            raise Rejected(f"the controller did not answer ({exc.__class__.__name__}); nothing was deployed") from None
        if status >= 300:
            raise Rejected(detail(answer))
        return answer

    def run(self, update: Update) -> None:
        sha = update.new
        self.hook("/v1/hooks/push/", {"sha": sha, "fingerprint": self.fingerprint,
                                       "ssh_connection": os.environ.get("SSH_CONNECTION", "")[:255],
                                       "ssh_original_command": os.environ.get("SSH_ORIGINAL_COMMAND", "")[:255]})
        docker_text = read_file(sha, "Dockerfile")
        procfile_text = read_file(sha, "Procfile")
        ref = dockerfile.image_ref(self.config.registry, self.app, sha)
        with tempfile.TemporaryDirectory(prefix=f"app-layer-build-{self.app}-") as tmp:
            tree = Path(tmp) / "app"
            tree.mkdir()
            checkout(sha, tree)
            if docker_text is not None:
                step(f"Building {self.app} {sha[:8]} from its Dockerfile")
                dockerfile.build(tree, ref, self.app, info, self.config.docker_host)
                procfile: dict | str = procfile_text or ""
                docker_field = docker_text if 0 < len(docker_text) <= MAX_DOCKERFILE else "true"
            else:
                step(f"Building {self.app} {sha[:8]} with a buildpack")
                values = self.hook("/v1/hooks/config/", {}).get("values") or {}
                result = buildpack.build(tree, self.cache_dir, values, procfile_text, ref, self.app, _relay,
                                         self.config.docker_host, Path(self.config.locks), self.build_env,
                                         tuple(p for p in self.config.buildpack_paths.split(":") if p))
                procfile, docker_field = result.procfile, ""
                info("Process types: " + ", ".join(sorted(result.procfile)))
        step(f"Pushing image {ref}")
        dockerfile.push(ref, info, self.config.docker_host)
        step("Launching...")
        answer = self.hook("/v1/hooks/build/", {"image": ref, "sha": sha, "procfile": procfile,
                                                 "dockerfile": docker_field}, timeout=3600)
        version = answer.get("release", {}).get("version")
        info(f"done, {self.app}:v{version} deployed")
        for domain in answer.get("domains", [])[:1]:
            info(f"http://{domain}")


def main() -> int:
    try:
        config = BuilderConfig.from_env(os.environ)
        app_id, user = os.environ["RECEIVE_REPO"], os.environ["RECEIVE_USER"]
    except KeyError as exc:
        print(f" !     app-layer hook misconfigured: {exc}", file=sys.stderr)
        return 1
    updates = parse_updates(sys.stdin.read())
    deploys = [u for u in updates if u.ref in repos.DEPLOY_REFS and u.new != ZERO]
    for u in updates:
        if u not in deploys and u.new != ZERO:
            step(f"Pushed {u.ref.removeprefix('refs/heads/')}: only master or main deploy; not building it.")
    if not deploys:
        return 0
    build = Build(config, app_id, user, os.environ.get("RECEIVE_FINGERPRINT", ""))
    def waiting() -> None:
        step(f"Another push to {app_id} is in progress; waiting for it to finish...")

    try:
        if os.environ.get(repos.LOCK_HELD_ENV):
            _deploy(build, deploys)
        elif os.environ.get(repos.LOCK_FD_ENV, "").isdigit():
            # Inherited from the git HTTP route: locked here, it stays locked until receive-pack
            # has moved the refs and exited, so the next push sees them moved.
            repos.acquire(int(os.environ[repos.LOCK_FD_ENV]), waiting)
            _deploy(build, deploys)
        else:
            with repos.push_lock(config.locks, app_id, waiting):
                _deploy(build, deploys)
    except (Rejected, dockerfile.BuildFailed) as exc:
        message = exc.args[0] if isinstance(exc, Rejected) else exc.detail
        print(f"\n !     {message}\n !     Push rejected: {app_id} was not deployed; "
              f"the running release is unchanged.\n", file=sys.stderr, flush=True)
        return 1
    return 0


def _deploy(build: Build, deploys: list[Update]) -> None:
    for u in deploys:
        if current_sha(u.ref) != u.old:  # another push moved it while this one waited
            raise Rejected(f"{u.ref} changed while this push waited; fetch, merge and push again.")
    build.run(deploys[-1])
    subprocess.run(["git", "symbolic-ref", "HEAD", deploys[-1].ref], check=False)


if __name__ == "__main__":
    sys.exit(main())
