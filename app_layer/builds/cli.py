"""Operator verbs of the builder: ``sshd``, ``sshd-config``, ``registry``, and the two commands sshd
runs (``authorized-keys``, ``git-shell``). Imports stay light: sshd starts these per connection."""
from __future__ import annotations

import os
import sys

import click


@click.command("git-shell")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False))
@click.argument("username")
@click.argument("fingerprint")
def git_shell(config_path: str, username: str, fingerprint: str) -> None:
    """The forced command of builder SSH keys (sshd runs it; not for people)."""
    from app_layer.builds import git_shell as shell
    from app_layer.builds.config import BuilderConfig

    sys.exit(shell.run(BuilderConfig.read(config_path), username, fingerprint,
                       os.environ.get("SSH_ORIGINAL_COMMAND", "")))


@click.command("authorized-keys")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False))
@click.argument("fingerprint")
def authorized_keys(config_path: str, fingerprint: str) -> None:
    """sshd's AuthorizedKeysCommand: the authorized_keys line of a registered key."""
    from app_layer.builds import keys_command

    sys.exit(keys_command.run(config_path, fingerprint))


@click.command("sshd-config")
@click.option("--controller", default=None, help="controller URL (default: http://127.0.0.1:APP_LAYER_API_PORT)")
def sshd_config(controller: str | None) -> None:
    """Print the sshd_config snippet that makes a system sshd serve git push (writes the builder config)."""
    import pwd

    from app_layer.builds.config import BuilderConfig
    from app_layer.builds.sshd import SshdLayout, operator_snippet
    from app_layer.cli.main import load_settings

    settings = load_settings()
    layout = SshdLayout.of(settings)
    BuilderConfig.from_settings(settings, controller).write(layout.builder_config)
    click.echo(operator_snippet(sys.executable, layout.builder_config, pwd.getpwuid(os.getuid()).pw_name), nl=False)


@click.command("sshd")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=None, help="default: APP_LAYER_SSH_PORT")
@click.option("--controller", default=None, help="controller URL (default: http://HOST:APP_LAYER_API_PORT)")
def sshd(host: str, port: int | None, controller: str | None) -> None:
    """Run the builder's own sshd in the foreground (git push over SSH)."""
    from app_layer.builds import sshd as builder_sshd
    from app_layer.cli.main import load_settings

    settings = load_settings()
    try:
        layout = builder_sshd.prepare(settings, host, port or settings.ssh_port,
                                      controller or f"http://{_connectable(host)}:{settings.api_port}")
    except builder_sshd.SshdError as exc:
        raise click.ClickException(str(exc)) from None
    os.execv(builder_sshd.SSHD, builder_sshd.argv(layout))


@click.command("registry")
@click.option("--addr", default=None, help="host:port to listen on (default: APP_LAYER_REGISTRY)")
def registry(addr: str | None) -> None:
    """Run the platform's Docker registry in the foreground (storage under the data dir)."""
    import shutil

    from app_layer.builds import registry as builder_registry
    from app_layer.cli.main import load_settings

    settings = load_settings()
    config = builder_registry.prepare(settings.data_dir, addr or settings.registry)
    program = shutil.which(builder_registry.REGISTRY)
    if program is None:
        raise click.ClickException("docker-registry is not installed (Debian package docker-registry)")
    os.execv(program, builder_registry.argv(config))


@click.group("stack")
def stack() -> None:
    """The stack image buildpack apps are built and run on."""


@stack.command("build")
@click.option("--force", is_flag=True, help="build even if this engine has the image already")
def stack_build(force: bool) -> None:
    """Build the stack image (mmdebstrap from this host's apt sources, then docker import).

    Its name is derived from its contents, so an existing image is reused unless --force."""
    from app_layer.builds import stack as builder_stack
    from app_layer.cli.main import load_settings

    settings = load_settings()
    try:
        ref = builder_stack.tag()
        if force or not builder_stack.exists(ref, settings.docker_host):
            builder_stack.build(ref, click.echo, settings.docker_host)
        else:
            click.echo(f"{ref} exists already ({builder_stack.size_mb(ref, settings.docker_host):.0f} MB)")
    except builder_stack.StackFailed as exc:
        raise click.ClickException(exc.detail) from None


def _connectable(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


COMMANDS = (git_shell, authorized_keys, sshd_config, sshd, registry, stack)
