"""Operator verbs of the routing layer: ``app-layer routes`` and the router's start-up checks."""
from __future__ import annotations

from click.testing import CliRunner

from app_layer.cli.main import main
from app_layer.db import Database
from app_layer.migrate import upgrade
from app_layer.routing.embedded import EmbeddedRegistry
from app_layer.routing.registry import Route


def test_routes_lists_the_registry_and_bad_settings_are_usage_errors(tmp_path) -> None:
    env = {"APP_LAYER_DATA_DIR": str(tmp_path), "APP_LAYER_SCHEDULER": "memory"}
    database_url = f"sqlite:///{tmp_path / 'app-layer.db'}"
    upgrade(Database(database_url))
    registry = EmbeddedRegistry(database_url)
    registry.register(Route("shop", "web", 1, "127.0.0.1", 5001, 3))
    registry.close()
    result = CliRunner().invoke(main, ["routes"], env=env)
    assert result.exit_code == 0 and result.output == "shop/web.1\t127.0.0.1:5001\tv3\n"

    result = CliRunner().invoke(main, ["routes"], env={**env, "APP_LAYER_ROUTES": "consul://x/y"})
    assert result.exit_code == 2 and "APP_LAYER_ROUTES" in result.output
    result = CliRunner().invoke(main, ["router"], env={**env, "APP_LAYER_ROUTER_CERT": str(tmp_path / "none.pem"),
                                                       "APP_LAYER_ROUTER_KEY": str(tmp_path / "none.key")})
    assert result.exit_code == 2 and "APP_LAYER_ROUTER_CERT" in result.output
    result = CliRunner().invoke(main, ["router"], env={**env, "APP_LAYER_ROUTER_BODY_SIZE": "lots"})
    assert result.exit_code == 2 and "APP_LAYER_ROUTER_BODY_SIZE" in result.output
