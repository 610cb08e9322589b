"""The stack image buildpacks compile and run on: a Debian rootfs made with ``mmdebstrap`` from the
host's own apt sources (no mirror is named here), ``docker import``ed as
``app-layer/stack:<hash of what goes in>`` so that an existing one is reused, never rebuilt."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import docker
from docker.errors import APIError, DockerException, ImageNotFound

from app_layer.builds.dockerfile import BuildFailed

REPOSITORY = "app-layer/stack"
LABEL = "app-layer.stack"
PACKAGES = ("python3", "python3-venv", "python3-pip", "nodejs", "npm", "ca-certificates", "busybox", "git",
            "curl", "bash")
VARIANT = "minbase"
# Documentation, manuals and translations are never read in a container.
EXCLUDES = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*",
            "/usr/share/lintian/*", "/usr/share/linda/*")
HOST_SOURCES = ("/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list")
LOCAL_ENGINE = "unix:///var/run/docker.sock"


class StackFailed(BuildFailed):
    """The stack image could not be made; ``detail`` says why."""


def suite() -> str:
    """The host's Debian release (the stack matches the host, whose apt sources it uses)."""
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.split("=", 1)[1].strip().strip('"') or "stable"
    return "stable"


def host_sources() -> list[str]:
    """The host's apt source files that exist and name a suite (passed to mmdebstrap as is)."""
    found = [p for p in HOST_SOURCES if Path(p).is_file() and Path(p).read_text().strip()]
    return found or []


def tag(packages: tuple[str, ...] = PACKAGES) -> str:
    """Content-derived image name: same packages, variant, suite and excludes -> same image."""
    recipe = "\n".join([suite(), VARIANT, *sorted(packages), *EXCLUDES, "v1"])
    return f"{REPOSITORY}:{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"


def mmdebstrap_argv(target: Path, packages: tuple[str, ...] = PACKAGES) -> list[str]:
    argv = ["mmdebstrap", f"--variant={VARIANT}", "--include=" + ",".join(packages), "--format=tar",
            "--aptopt=Acquire::Retries \"3\"",
            "--customize-hook=rm -rf \"$1\"/var/lib/apt/lists/* \"$1\"/var/cache/apt/* \"$1\"/var/log/*"]
    argv += [f"--dpkgopt=path-exclude={pattern}" for pattern in EXCLUDES]
    argv += ["--dpkgopt=path-include=/usr/share/doc/*/copyright", suite(), str(target), *host_sources()]
    return argv


def _engine(docker_host: str = "") -> docker.APIClient:
    return docker.APIClient(base_url=docker_host or LOCAL_ENGINE, version="auto", timeout=600)


def exists(ref: str, docker_host: str = "") -> bool:
    api = _engine(docker_host)
    try:
        api.inspect_image(ref)
        return True
    except ImageNotFound:
        return False
    finally:
        api.close()


def ensure(out: Callable[[str], None], docker_host: str = "", lock_dir: Path | None = None) -> str:
    """The stack image's reference, built first if this engine lacks it (one builder at a time)."""
    ref = tag()
    if exists(ref, docker_host):
        return ref
    lock_dir = lock_dir or Path(tempfile.gettempdir())
    lock_dir.mkdir(parents=True, exist_ok=True)
    import fcntl

    fd = os.open(lock_dir / "app-layer-stack.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            out("Another process is building the stack image; waiting for it...")
            fcntl.flock(fd, fcntl.LOCK_EX)
        if not exists(ref, docker_host):
            build(ref, out, docker_host)
    finally:
        os.close(fd)
    return ref


def build(ref: str, out: Callable[[str], None], docker_host: str = "") -> float:
    """mmdebstrap a rootfs tarball and import it as ``ref``; returns the seconds it took."""
    if shutil.which("mmdebstrap") is None:
        raise StackFailed("mmdebstrap is not installed (Debian package mmdebstrap)")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="app-layer-stack-") as tmp:
        target = Path(tmp) / "rootfs.tar"
        out(f"Building the stack image {ref} with mmdebstrap ({suite()}, {len(PACKAGES)} packages)")
        proc = subprocess.Popen(mmdebstrap_argv(target), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env={**os.environ, "LC_ALL": "C.UTF-8"})
        tail: list[str] = []
        assert proc.stdout is not None
        for line in proc.stdout:
            tail = (tail + [line.rstrip()])[-30:]
            if line.startswith("I: ") and any(w in line for w in ("downloading", "installing", "extracting",
                                                                   "success", "running")):
                out(line.rstrip())
        if proc.wait() != 0:
            raise StackFailed("mmdebstrap failed:\n" + "\n".join(tail))
        api = _engine(docker_host)
        try:
            repository, _, version = ref.partition(":")
            with target.open("rb") as fh:
                api.import_image_from_data(fh, repository=repository, tag=version,
                                           changes=[f"LABEL {LABEL}=1", "ENV LANG=C.UTF-8",
                                                    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
                                                    "/sbin:/bin"])
        except (APIError, DockerException) as exc:
            raise StackFailed(f"docker import failed: {exc}") from None
        finally:
            api.close()
    seconds = time.monotonic() - started
    out(f"Stack image {ref} built in {seconds:.0f}s ({size_mb(ref, docker_host):.0f} MB)")
    return seconds


def size_mb(ref: str, docker_host: str = "") -> float:
    api = _engine(docker_host)
    try:
        return float(api.inspect_image(ref)["Size"]) / 1e6
    finally:
        api.close()
