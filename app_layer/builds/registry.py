"""The Docker registry the platform runs (Debian ``docker-registry``), storage under the data dir."""
from __future__ import annotations

from pathlib import Path

import yaml

REGISTRY = "docker-registry"


def render_config(storage: Path, addr: str) -> str:
    """The registry's config (pure): filesystem storage, deletes allowed, no auth (loopback)."""
    return yaml.safe_dump({
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True},
                    "cache": {"blobdescriptor": "inmemory"}},
        "http": {"addr": addr, "headers": {"X-Content-Type-Options": ["nosniff"]}},
    }, sort_keys=False)


def prepare(data_dir: Path, addr: str) -> Path:
    """Write ``<data_dir>/registry/config.yml``; returns its path."""
    root = data_dir / "registry"
    (root / "storage").mkdir(parents=True, exist_ok=True)
    config = root / "config.yml"
    config.write_text(render_config(root / "storage", addr))
    return config


def argv(config: Path) -> list[str]:
    return [REGISTRY, "serve", str(config)]


def is_local(registry: str, host: str) -> bool:
    """Whether ``APP_LAYER_REGISTRY`` names a registry this host should run."""
    name = registry.rpartition(":")[0] or registry
    return name in ("127.0.0.1", "localhost", host)
