"""Scheduler backends, picked by name from ``APP_LAYER_SCHEDULER`` and built once per process."""
from __future__ import annotations

import importlib
from collections.abc import Callable

from app_layer.backends.base import Backend, Capability, HealthCheck, LogLine, Process, ReleaseSpec, State
from app_layer.settings import Settings

__all__ = ["Backend", "Capability", "HealthCheck", "LogLine", "Process", "ReleaseSpec", "State", "create"]

#: name -> "module:factory"; the factory takes the Settings and returns a Backend.
REGISTRY: dict[str, str] = {
    "memory": "app_layer.backends.memory:MemoryBackend",
    "docker": "app_layer.backends.docker:from_settings",
    "marathon": "app_layer.backends.marathon:from_settings",
    "fleet": "app_layer.backends.fleet:from_settings",
    "swarm": "app_layer.backends.swarm:from_settings",
}


def create(settings: Settings) -> Backend:
    """Build the backend named by ``settings.scheduler`` (does not contact the engine)."""
    module_name, attr = REGISTRY[settings.scheduler].split(":")
    factory: Callable[..., Backend] = getattr(importlib.import_module(module_name), attr)
    if settings.scheduler == "memory":
        return factory()
    return factory(settings)
