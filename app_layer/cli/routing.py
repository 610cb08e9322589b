"""Operator verbs of the routing layer: ``app-layer publisher``, ``app-layer router``, ``app-layer routes``."""
from __future__ import annotations

import logging
import signal
import sys

import click

from app_layer.settings import Settings, SettingsError


def _settings() -> Settings:
    try:
        return Settings.from_env().with_secrets()
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None


def _registry(settings: Settings):  # type: ignore[no-untyped-def]
    from app_layer.routing.registry import RegistryError, open_registry

    try:
        return open_registry(settings.routes, settings.database_url)
    except RegistryError as exc:
        raise click.UsageError(str(exc)) from None


def _stop_on_sigterm(stop) -> None:  # type: ignore[no-untyped-def]
    def handler(*_: object) -> None:
        stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


@click.command()
@click.option("--interval", type=float, default=0.5, show_default=True, help="seconds between passes")
def publisher(interval: float) -> None:
    """Register the healthy web and cmd processes of each app's current release (APP_LAYER_ROUTES)."""
    from app_layer.migrate import upgrade
    from app_layer.platform import Platform
    from app_layer.routing.publisher import Publisher

    logging.basicConfig(level=logging.INFO, format="publisher: %(message)s")
    settings = _settings()
    platform = Platform.build(settings)
    upgrade(platform.db)
    registry = _registry(settings)
    worker = Publisher(platform.db, platform.backend, registry, interval)
    _stop_on_sigterm(worker.stop)
    click.echo(f"publisher: {settings.scheduler} -> {registry.url}")
    try:
        worker.run_forever()
    finally:
        registry.close()
        platform.close()


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="address the router listens on")
@click.option("--controller", default=None, help="host:port of the controller (default: 127.0.0.1:APP_LAYER_API_PORT)")
@click.option("--access-log/--no-access-log", default=True, show_default=True,
              help="log every request to <data dir>/router/logs/access.log")
def router(host: str, controller: str | None, access_log: bool) -> None:
    """Run nginx fed by the route registry on APP_LAYER_ROUTER_PORT and APP_LAYER_ROUTER_TLS_PORT."""
    import threading

    from app_layer.db import Database
    from app_layer.migrate import upgrade
    from app_layer.routing.router import Router, config_from_settings

    logging.basicConfig(level=logging.INFO, format="router: %(message)s")
    settings = _settings()
    try:
        cfg = config_from_settings(settings, host, access_log=access_log)
    except OSError as exc:
        raise click.UsageError(f"APP_LAYER_ROUTER_CERT, APP_LAYER_ROUTER_KEY: cannot read {exc.filename}") from None
    db = Database(settings.database_url)
    upgrade(db)
    registry = _registry(settings)
    worker = Router(cfg, registry, db, controller or f"127.0.0.1:{settings.api_port}")
    done = threading.Event()
    _stop_on_sigterm(done.set)
    thread = threading.Thread(target=worker.run_forever, name="router", daemon=True)
    thread.start()
    click.echo(f"router: http://{settings.domain}:{settings.router_port} (apps at <app>.{settings.domain}),"
               f" routes from {registry.url}")
    try:
        while not done.wait(0.5):
            if not thread.is_alive():
                sys.exit(1)
    finally:
        worker.stop()
        registry.close()


@click.command()
@click.argument("app", required=False)
def routes(app: str | None) -> None:
    """List the registered routes (of one app)."""
    registry = _registry(_settings())
    try:
        for route in registry.list(app):
            click.echo(f"{route.app}/{route.process}\t{route.host}:{route.port}\tv{route.release}")
    finally:
        registry.close()


def register(group: click.Group) -> None:
    for command in (publisher, router, routes):
        group.add_command(command)
