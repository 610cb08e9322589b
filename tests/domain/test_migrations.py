"""The Alembic migrations build exactly the schema the models describe (Warehouse's db-check)."""
from __future__ import annotations

from app_layer.db import Database
from app_layer.migrate import differences, upgrade


def test_models_and_migrations_agree(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(db)
    assert differences(db) == []


def test_upgrade_is_idempotent(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(db)
    upgrade(db)
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("select count(*) from alembic_version").scalar() == 1
