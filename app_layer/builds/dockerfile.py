"""``docker build`` of a pushed tree that has a Dockerfile, and the push of its image to the
registry; the engine's output goes to ``out`` line by line as it arrives."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import docker
from docker.errors import APIError, DockerException

from app_layer.errors import AppLayerError

BUILD_LABEL = "app-layer.app"
LOCAL_ENGINE = "unix:///var/run/docker.sock"


class BuildFailed(AppLayerError):
    """The image could not be built or pushed; ``detail`` says why, in the engine's words."""


def image_ref(registry: str, app_id: str, sha: str) -> str:
    return f"{registry}/{app_id}:git-{sha[:8]}"


def _lines(chunks: Iterable[str]) -> Iterable[str]:
    """Whole lines out of text chunks that may split or join lines."""
    pending = ""
    for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split("\n")
        yield from complete
    if pending:
        yield pending


def _engine(docker_host: str) -> docker.APIClient:
    return docker.APIClient(base_url=docker_host or LOCAL_ENGINE, version="auto", timeout=600)


def build(context: Path, ref: str, app_id: str, out: Callable[[str], None], docker_host: str = "") -> None:
    """Build ``context`` (its Dockerfile) as ``ref``; raises ``BuildFailed`` with the engine's error."""
    try:
        api = _engine(docker_host)
        events = api.build(path=str(context), tag=ref, rm=True, forcerm=True, pull=False, decode=True,
                           labels={BUILD_LABEL: app_id})
        error: list[str] = []

        def text() -> Iterable[str]:
            for event in events:
                if "error" in event:
                    error.append(str(event.get("error", "")).strip())
                elif "stream" in event:
                    yield str(event["stream"])

        for line in _lines(text()):
            if line.strip():
                out(line.rstrip())
        if error:
            raise BuildFailed(error[-1] or "docker build failed")
    except (APIError, DockerException) as exc:
        raise BuildFailed(f"docker build failed: {_short(exc)}") from None


def push(ref: str, out: Callable[[str], None], docker_host: str = "") -> None:
    """Push ``ref`` to its registry; raises ``BuildFailed`` if the registry refuses."""
    repository, _, tag = ref.rpartition(":")
    try:
        api = _engine(docker_host)
        for event in api.push(repository, tag=tag, stream=True, decode=True):
            if "error" in event:
                raise BuildFailed(f"pushing {ref} failed: {event['error']}")
            status = str(event.get("status", ""))
            if status.startswith(f"{tag}: digest:"):
                out(status)
    except (APIError, DockerException) as exc:
        raise BuildFailed(f"pushing {ref} failed: {_short(exc)}") from None


def _short(exc: Exception) -> str:
    return str(getattr(exc, "explanation", None) or exc)[:500]
