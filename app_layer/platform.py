"""The composition root: settings, database, backend and deployer, built once and passed in."""
from __future__ import annotations

from dataclasses import dataclass

from app_layer import backends
from app_layer.backends.base import Backend
from app_layer.db import Database
from app_layer.deploy import Deployer
from app_layer.settings import Settings


@dataclass
class Platform:
    settings: Settings
    db: Database
    backend: Backend
    deployer: Deployer

    @classmethod
    def build(cls, settings: Settings, backend: Backend | None = None) -> Platform:
        settings = settings.with_secrets()
        db = Database(settings.database_url)
        backend = backend or backends.create(settings)
        deployer = Deployer(db, backend, settings.data_dir / "locks", settings.domain, settings.deploy_timeout)
        return cls(settings, db, backend, deployer)

    def close(self) -> None:
        self.backend.close()
        self.db.dispose()
