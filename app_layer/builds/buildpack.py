"""Buildpack builds (the Heroku API: ``bin/detect``, ``bin/compile BUILD CACHE ENV``, ``bin/release``).

The buildpack runs in a container of the stack image with the checked-out tree at ``/app``, the
app's cache (kept between pushes) at ``/cache`` and its config values as files in ``/env``. The
image is then built FROM the stack in two layers: the dependencies the buildpack names (reused
as long as their key, e.g. the hash of requirements.txt, is unchanged) and the app code.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import yaml
from docker.errors import APIError, DockerException, ImageNotFound

from app_layer.builds import dockerfile, stack
from app_layer.builds.config import CA_VARIABLES, passthrough_env
from app_layer.builds.dockerfile import BUILD_LABEL, BuildFailed

BUILTIN = Path(__file__).parent / "buildpacks"
BUILTIN_ORDER = ("python", "nodejs", "static")
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
MAX_COMMAND = 4096


@dataclass(frozen=True)
class Result:
    image: str
    procfile: dict[str, str]
    buildpack: str


def _engine(docker_host: str = "") -> docker.APIClient:
    return docker.APIClient(base_url=docker_host or stack.LOCAL_ENGINE, version="auto", timeout=3600)


def buildpack_dirs(buildpack_url: str, scratch: Path, out: Callable[[str], None],
                   allowed_paths: tuple[str, ...] = ()) -> dict[str, Path]:
    """name -> directory of the candidate buildpacks, in detection order.

    A local path must lie under a directory the operator allowed (``APP_LAYER_BUILDPACK_PATHS``):
    it is mounted into the build, so it must not expose the host. Git URLs are cloned over
    https, http, git or ssh only (never ``file://``: other apps' repositories live here)."""
    if not buildpack_url:
        return {name: BUILTIN / name for name in BUILTIN_ORDER}
    if buildpack_url.startswith("/"):
        path = Path(os.path.realpath(buildpack_url))
        roots = [Path(os.path.realpath(p)) for p in allowed_paths]
        if not any(path == root or root in path.parents for root in roots):
            raise BuildFailed(f"BUILDPACK_URL {buildpack_url}: local buildpacks must be under a directory "
                              "listed in APP_LAYER_BUILDPACK_PATHS (set by the operator)")
        if not (path / "bin").is_dir():
            raise BuildFailed(f"BUILDPACK_URL {buildpack_url} is not a buildpack directory (no bin/)")
        return {"custom": path}
    url, _, ref = buildpack_url.partition("#")
    scp_style = re.match(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^/]", url) is not None
    if not url.startswith(("https://", "http://", "git://", "ssh://")) and not scp_style:
        raise BuildFailed("BUILDPACK_URL must be a git URL (https://..., optionally #ref) or an absolute path")
    if ref.startswith("-"):
        raise BuildFailed("BUILDPACK_URL: the #ref must name a branch or tag")
    target = scratch / "custom-buildpack"
    out(f"Fetching buildpack {url}{'#' + ref if ref else ''}")
    argv = ["git", "-c", "protocol.file.allow=never", "-c", "protocol.ext.allow=never", "clone", "--quiet",
            "--depth", "1", *(["--branch", ref] if ref else []), "--", url, str(target)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ALLOW_PROTOCOL": "https:http:git:ssh"})
    if done.returncode != 0:
        raise BuildFailed(f"could not fetch BUILDPACK_URL: {done.stderr.strip()[-500:]}")
    return {"custom": target}


def merge_procfile(procfile_text: str | None, release_yml: str) -> dict[str, str]:
    """The Procfile's process types over the buildpack's ``default_process_types``."""
    from app_layer.releases import parse_procfile

    defaults: dict[str, Any] = {}
    if release_yml.strip():
        try:
            loaded = yaml.safe_load(release_yml)
        except yaml.YAMLError:
            raise BuildFailed("the buildpack's bin/release printed invalid YAML") from None
        if isinstance(loaded, dict) and isinstance(loaded.get("default_process_types"), dict):
            defaults = loaded["default_process_types"]
    merged = {**parse_procfile(defaults, "default_process_types"), **parse_procfile(procfile_text or "")}
    return merged


def config_files(values: dict[str, Any], into: Path) -> None:
    """ENV_DIR: one file per config value (name -> value), readable by the build only."""
    into.mkdir(mode=0o700, exist_ok=True)
    for name, value in values.items():
        if name and "/" not in name and not name.startswith("."):
            (into / name).write_text(str(value))


def compile_in_container(tree: Path, cache: Path, env_dir: Path, packs: dict[str, Path], stack_ref: str,
                         app_id: str, out: Callable[[str], None], docker_host: str = "",
                         environ: dict[str, str] | None = None) -> None:
    """Run detect/compile/release in a container; the tree is compiled in place, as this process's
    user (so that the files it makes in the tree and the cache stay this user's to remove)."""
    environ = dict(os.environ if environ is None else environ)
    env = {"APP_LAYER_BUILDPACKS": " ".join(packs), "STACK": "app-layer", "HOME": "/app",
           "LANG": "C.UTF-8", **passthrough_env(environ)}
    binds = {str(tree): {"bind": "/app", "mode": "rw"}, str(cache): {"bind": "/cache", "mode": "rw"},
             str(env_dir): {"bind": "/env", "mode": "ro"},
             str(BUILTIN / "driver"): {"bind": "/usr/local/bin/app-layer-driver", "mode": "ro"}}
    for name, path in packs.items():
        binds[str(path)] = {"bind": f"/buildpacks/{name}", "mode": "ro"}
    if Path(CA_BUNDLE).is_file():
        binds[CA_BUNDLE] = {"bind": CA_BUNDLE, "mode": "ro"}
        env.update({name: CA_BUNDLE for name in CA_VARIABLES})
    api = _engine(docker_host)
    name = f"app-layer-build-{app_id}-{os.urandom(4).hex()}"
    try:
        cid = api.create_container(stack_ref, command=["bash", "/usr/local/bin/app-layer-driver"], name=name,
                                   environment=env, labels={BUILD_LABEL: app_id, "app-layer.build": "1"},
                                   working_dir="/app", user=f"{os.getuid()}:{os.getgid()}",
                                   host_config=api.create_host_config(binds=binds, init=True))["Id"]
        try:
            api.start(cid)
            pending = ""
            for chunk in api.logs(cid, stream=True, follow=True):
                pending += chunk.decode("utf-8", "replace")
                *lines, pending = pending.split("\n")
                for line in lines:
                    out(line.rstrip())
            if pending.strip():
                out(pending.rstrip())
            code = int(api.wait(cid)["StatusCode"])
        finally:
            api.remove_container(cid, force=True)
    except (APIError, DockerException) as exc:
        raise BuildFailed(f"the build container failed: {exc}") from None
    finally:
        api.close()
    if code == 64:
        raise BuildFailed("No buildpack detected this app (see above).")
    if code != 0:
        raise BuildFailed(f"The buildpack build failed (exit status {code}); see its output above.")


def _deps(tree: Path) -> tuple[str, list[str]]:
    manifest = tree / ".app-layer" / "deps"
    if not manifest.is_file():
        return "", []
    lines = [line.strip() for line in manifest.read_text().splitlines() if line.strip()]
    if not lines:
        return "", []
    paths = [p for p in lines[1:] if p and not p.startswith(("/", ".."))
             and (tree / p).exists() and ".." not in Path(p).parts]
    return lines[0], paths


def _exists(api: docker.APIClient, ref: str) -> bool:
    try:
        api.inspect_image(ref)
        return True
    except ImageNotFound:
        return False


def assemble(tree: Path, scratch: Path, procfile: dict[str, str], stack_ref: str, ref: str, app_id: str,
             out: Callable[[str], None], docker_host: str = "") -> None:
    """Make ``ref``: FROM the stack, a dependency layer (reused by key), then the app code layer."""
    key, dep_paths = _deps(tree)
    base = stack_ref
    api = _engine(docker_host)
    try:
        if key and dep_paths:
            digest = hashlib.sha256(f"{stack_ref}\n{key}\n{' '.join(dep_paths)}".encode()).hexdigest()[:16]
            base = f"app-layer-deps/{app_id}:{digest}"
            deps_context = scratch / "deps"
            deps_context.mkdir()
            for rel in dep_paths:
                target = deps_context / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tree / rel, target)
            if _exists(api, base):
                out("Dependencies unchanged: reusing their image layer")
            else:
                out("Building the dependency layer")
                _layer(api, stack_ref, deps_context, scratch / "deps.tar", base, app_id, {"command": ["bash"]})
        _add_runtime(tree, procfile)
        _layer(api, base, tree, scratch / "app.tar", ref, app_id, {
            "entrypoint": ["/app/.app-layer/init"], "command": ["start", "web"], "working_dir": "/app",
            "ports": [5000]})
    except (APIError, DockerException) as exc:
        raise BuildFailed(f"making the image failed: {dockerfile._short(exc)}") from None
    finally:
        api.close()


def _add_runtime(tree: Path, procfile: dict[str, str]) -> None:
    """The launcher (``init`` entrypoint, ``start <type>``) and one file per process type."""
    meta = tree / ".app-layer"
    (meta / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copy(BUILTIN / "runtime" / "init", meta / "init")
    shutil.copy(BUILTIN / "runtime" / "start", meta / "bin" / "start")
    for path in (meta / "init", meta / "bin" / "start"):
        path.chmod(0o755)
    process = meta / "process"
    shutil.rmtree(process, ignore_errors=True)
    process.mkdir()
    for ptype, command in procfile.items():
        (process / ptype).write_text(command + "\n")


def _layer(api: docker.APIClient, base: str, content: Path, tar_path: Path, ref: str, app_id: str,
           config: dict[str, Any]) -> None:
    """One layer on ``base`` holding ``content`` as ``/app``: a container created (never started),
    the files copied in, committed as ``ref`` (much faster than ``docker build``)."""
    with tarfile.open(tar_path, "w") as tar:
        tar.add(content, arcname="app", filter=_root_owned)
    repository, _, version = ref.rpartition(":")
    cid = api.create_container(base, name=f"app-layer-layer-{app_id}-{os.urandom(4).hex()}",
                               labels={BUILD_LABEL: app_id}, **config)["Id"]
    try:
        with tar_path.open("rb") as fh:
            api.put_archive(cid, "/", fh)
        api.commit(cid, repository=repository, tag=version, pause=False)
    finally:
        api.remove_container(cid, force=True)
        tar_path.unlink(missing_ok=True)


def _root_owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def build(tree: Path, cache: Path, config_values: dict[str, Any], procfile_text: str | None, ref: str,
          app_id: str, out: Callable[[str], None], docker_host: str = "", lock_dir: Path | None = None,
          environ: dict[str, str] | None = None, allowed_paths: tuple[str, ...] = ()) -> Result:
    """Compile ``tree`` with a buildpack and build the image ``ref``; returns the process types."""
    from app_layer.errors import ValidationError
    from app_layer.releases import parse_procfile

    try:
        parse_procfile(procfile_text or "")
    except ValidationError as exc:
        raise BuildFailed(f"Procfile: {_messages(exc)}") from None
    stack_ref = stack.ensure(out, docker_host, lock_dir)
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"app-layer-bp-{app_id}-") as tmp:
        scratch = Path(tmp)
        packs = buildpack_dirs(str(config_values.get("BUILDPACK_URL", "")).strip(), scratch, out, allowed_paths)
        env_dir = scratch / "env"
        config_files(config_values, env_dir)
        compile_in_container(tree, cache, env_dir, packs, stack_ref, app_id, out, docker_host, environ)
        release_yml = tree / ".app-layer" / "release.yml"
        try:
            procfile = merge_procfile(procfile_text, release_yml.read_text() if release_yml.is_file() else "")
        except ValidationError as exc:
            raise BuildFailed(f"Procfile: {_messages(exc)}") from None
        if not procfile:
            raise BuildFailed("No process types: add a Procfile (e.g. 'web: python app.py').")
        assemble(tree, scratch, procfile, stack_ref, ref, app_id, out, docker_host)
    return Result(ref, procfile, next(iter(packs)))


def _messages(exc: Exception) -> str:
    fields = getattr(exc, "fields", None)
    if isinstance(fields, dict):
        return "; ".join(" ".join(map(str, v)) if isinstance(v, list) else str(v) for v in fields.values())
    return str(exc)
