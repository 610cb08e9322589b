"""What the git side of the builder needs to know: where the controller answers, the builder
key, where repositories live and where images go.

sshd runs its commands with an empty environment, so the SSH side reads this from a file
written by ``app-layer sshd`` / ``app-layer sshd-config`` (mode 0600); the pre-receive hook gets it
through its environment (``to_env``), from ``git-shell`` or from the controller's git HTTP route.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import requests

from app_layer.settings import Settings

_ENV_PREFIX = "APP_LAYER_BUILDER_"
OPTIONAL = ("docker_host", "build_env", "buildpack_paths")
CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "PIP_CERT", "SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "CURL_CA_BUNDLE",
                "GIT_SSL_CAINFO", "npm_config_cafile")
PROXY_NAMES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "no_proxy",
               "all_proxy")
PASS_PREFIXES = ("PIP_", "npm_config_", "NPM_CONFIG_", "UV_INDEX", "YARN_")


def passthrough_env(environ: dict[str, str] | os._Environ[str]) -> dict[str, str]:
    """The proxy and package-index settings of this host that build containers should see.

    Values that are paths on this host (e.g. a local wheel directory) mean nothing in a container
    and are left out; the CA bundle variables are set by the build itself."""
    chosen = {}
    for name, value in environ.items():
        if name in CA_VARIABLES or not value or value.startswith("/"):
            continue
        if name in PROXY_NAMES or name.startswith(PASS_PREFIXES):
            chosen[name] = value
    return chosen


@dataclass(frozen=True)
class BuilderConfig:
    controller: str  # base URL of the controller, e.g. http://127.0.0.1:8000
    builder_key: str
    repos: str  # directory of the bare repositories
    locks: str  # directory of the per-app push locks
    registry: str  # host:port images are pushed to
    docker_host: str = ""  # DOCKER_HOST of the engine that builds; "" = the local socket
    build_env: str = ""  # JSON: proxy and package-index variables of the controller's environment
    buildpack_paths: str = ""  # ":"-separated directories a BUILDPACK_URL path may be under

    def build_environment(self) -> dict[str, str]:
        """The proxy/index variables captured when the config was made (sshd runs hooks without them)."""
        try:
            loaded = json.loads(self.build_env) if self.build_env else {}
        except ValueError:
            return {}
        return {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}

    @classmethod
    def from_settings(cls, settings: Settings, controller: str | None = None) -> BuilderConfig:
        settings = settings.with_secrets()
        return cls(controller=controller or f"http://127.0.0.1:{settings.api_port}",
                   builder_key=settings.builder_key, repos=str(settings.data_dir / "repos"),
                   locks=str(settings.data_dir / "builder" / "locks"), registry=settings.registry,
                   docker_host=settings.docker_host, build_env=json.dumps(passthrough_env(os.environ)),
                   buildpack_paths=":".join(settings.buildpack_paths))

    def write(self, path: Path) -> Path:
        """Write the config readable by its owner only (it holds the builder key)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(asdict(self), fh)
        os.replace(tmp, path)
        return path

    @classmethod
    def read(cls, path: str | Path) -> BuilderConfig:
        with open(path) as fh:
            return cls(**json.load(fh))

    def to_env(self) -> dict[str, str]:
        return {_ENV_PREFIX + name.upper(): value for name, value in asdict(self).items()}

    @classmethod
    def from_env(cls, env: dict[str, str] | os._Environ[str]) -> BuilderConfig:
        names = cls.__dataclass_fields__
        missing = [n for n in names if _ENV_PREFIX + n.upper() not in env and n not in OPTIONAL]
        if missing:
            raise KeyError(f"builder environment lacks {', '.join(_ENV_PREFIX + n.upper() for n in missing)}")
        return cls(**{n: env[_ENV_PREFIX + n.upper()] for n in names if _ENV_PREFIX + n.upper() in env})


class Controller:
    """The builder hooks of the controller (``X-Deis-Builder-Auth``)."""

    def __init__(self, config: BuilderConfig, timeout: float = 30.0):
        self.config = config
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["X-Deis-Builder-Auth"] = config.builder_key
        self.session.trust_env = False  # the controller is ours: never through an HTTP proxy

    def call(self, method: str, path: str, body: dict[str, Any] | None = None,
             timeout: float | None = None) -> tuple[int, dict[str, Any]]:
        """(status, JSON body); raises ``requests.RequestException`` when the controller does not answer."""
        response = self.session.request(method, self.config.controller.rstrip("/") + path, json=body,
                                        timeout=timeout or self.timeout)
        try:
            data = response.json()
        except ValueError:
            data = {"detail": response.text[:500]}
        return response.status_code, data if isinstance(data, dict) else {"detail": str(data)[:500]}


def detail(body: dict[str, Any]) -> str:
    """The human message of a controller error body (``{"detail"}`` or ``{field: [msgs]}``)."""
    if "detail" in body:
        return str(body["detail"])
    return "; ".join(f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in body.items())
