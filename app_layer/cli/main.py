"""Operator verbs of ``app-layer``: ``up``, ``server``, ``migrate``, ``worker``."""
from __future__ import annotations

import signal
import sys

import click

from app_layer.builds.cli import COMMANDS as BUILDER_COMMANDS
from app_layer.settings import Settings, SettingsError


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings.from_env(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None


@click.group()
@click.version_option(package_name="app-layer")
def main() -> None:
    """app-layer: git push to deploy, on Docker, Marathon, fleet or Swarm."""


for _command in BUILDER_COMMANDS:
    main.add_command(_command)


@main.command()
def migrate() -> None:
    """Upgrade the database schema to the newest revision."""
    from app_layer.db import Database
    from app_layer.migrate import upgrade

    settings = load_settings()
    upgrade(Database(settings.database_url))
    click.echo(f"database at {settings.database_url} is up to date")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=None, help="default: APP_LAYER_API_PORT")
@click.option("--workers", type=int, default=None, help="web server processes (default: the number of cores)")
@click.option("--no-worker", is_flag=True, help="do not start the backend's worker loop (reconciler)")
def server(host: str, port: int | None, workers: int | None, no_worker: bool) -> None:
    """Run the controller: the API under gunicorn, and the configured backend's workers."""
    from app_layer.db import Database
    from app_layer.migrate import upgrade
    from app_layer.server import ControllerServer, gunicorn_options, start_worker_process

    settings = load_settings().with_secrets()
    upgrade(Database(settings.database_url))
    worker = None if no_worker or settings.scheduler == "memory" else start_worker_process()
    try:
        ControllerServer(gunicorn_options(settings, host, port or settings.api_port, workers)).run()
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(10)


@main.command()
@click.option("--interval", type=float, default=2.0, show_default=True, help="seconds between passes")
def worker(interval: float) -> None:
    """Run the reconciler: observe the backend, record process state, converge to the desired state."""
    from app_layer.platform import Platform
    from app_layer.reconciler import Reconciler

    platform = Platform.build(load_settings())
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    Reconciler(platform).run_forever(interval)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="address every part listens on")
@click.option("--api-port", type=int, default=None)
def up(host: str, api_port: int | None) -> None:
    """Start the whole platform on this host and print where each part answers; Ctrl-C stops it."""
    from app_layer.supervisor import run_platform

    settings = load_settings(**({"api_port": api_port} if api_port else {}))
    sys.exit(run_platform(settings, host))


from app_layer.cli import user  # noqa: E402 - the user verbs (apps:create, config:set ...) attach to `main`

user.register(main)

from app_layer.cli import routing  # noqa: E402 - publisher, router, routes

routing.register(main)

if __name__ == "__main__":
    main()
