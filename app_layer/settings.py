"""All platform configuration, read once from the environment (twelve-factor).

Every name is documented in the README's configuration table. ``Settings.from_env`` validates
at start-up and raises ``SettingsError`` with the variable's name and the rule it broke.
"""
from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path

REGISTRATION_MODES = ("open", "admin_only", "disabled")
SCHEDULERS = ("docker", "memory", "marathon", "fleet", "swarm")


class SettingsError(ValueError):
    """A configuration variable has a value the platform cannot use."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    api_port: int = 8000
    ssh_port: int = 2222
    router_port: int = 8080
    router_tls_port: int = 8443
    secret_key: str = ""
    builder_key: str = ""
    registration_mode: str = "open"
    deploy_timeout: float = 120.0
    scheduler: str = "docker"
    marathon_url: tuple[str, ...] = ()
    fleet_endpoint: str = ""
    routes: str = "embedded"
    domain: str = "localhost"
    registry: str = "127.0.0.1:5000"
    router_timeout: float = 60.0      # APP_LAYER_ROUTER_TIMEOUT: seconds a request may wait on an app
    router_body_size: str = "100m"    # APP_LAYER_ROUTER_BODY_SIZE: largest request body (nginx size)
    router_cert: str = ""             # APP_LAYER_ROUTER_CERT/_KEY: PEM files for *.<domain>
    router_key: str = ""
    reserved_names: tuple[str, ...] = ("deis", "app-layer")
    keep_releases: int = 5
    run_timeout: float = 600.0
    docker_host: str = ""            # DOCKER_HOST, as the Docker tools read it; "" = the local socket
    stop_grace: float = 10.0         # seconds between SIGTERM and SIGKILL when a process is stopped
    drain_seconds: float = 2.0       # old processes report unhealthy this long before SIGTERM (routes move)
    buildpack_paths: tuple[str, ...] = ()  # APP_LAYER_BUILDPACK_PATHS: dirs BUILDPACK_URL may name (a:b)
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> Settings:
        """Read ``APP_LAYER_*`` (and ``MARATHON_URL``, ``FLEET_ENDPOINT``) from ``env``."""
        env = dict(os.environ if env is None else env)
        data_dir = Path(
            env.get("APP_LAYER_DATA_DIR") or Path.home() / ".local" / "share" / "app-layer"
        ).expanduser()
        as_root = hasattr(os, "geteuid") and os.geteuid() == 0
        mode = env.get("APP_LAYER_REGISTRATION_MODE", "open")
        if mode == "enabled":  # the Deis spelling
            mode = "open"
        settings = cls(
            data_dir=data_dir,
            database_url=env.get("APP_LAYER_DATABASE_URL") or f"sqlite:///{data_dir / 'app-layer.db'}",
            api_port=_port(env, "APP_LAYER_API_PORT", 8000),
            ssh_port=_port(env, "APP_LAYER_SSH_PORT", 2222),
            router_port=_port(env, "APP_LAYER_ROUTER_PORT", 80 if as_root else 8080),
            router_tls_port=_port(env, "APP_LAYER_ROUTER_TLS_PORT", 443 if as_root else 8443),
            secret_key=env.get("APP_LAYER_SECRET_KEY", ""),
            builder_key=env.get("APP_LAYER_BUILDER_KEY", ""),
            registration_mode=_choice(env, "APP_LAYER_REGISTRATION_MODE", mode, REGISTRATION_MODES),
            deploy_timeout=_number(env, "APP_LAYER_DEPLOY_TIMEOUT", 120.0),
            scheduler=_choice(env, "APP_LAYER_SCHEDULER", env.get("APP_LAYER_SCHEDULER", "docker"), SCHEDULERS),
            marathon_url=tuple(u.strip() for u in env.get("MARATHON_URL", "").split(",") if u.strip()),
            fleet_endpoint=env.get("FLEET_ENDPOINT", ""),
            routes=env.get("APP_LAYER_ROUTES", "embedded"),
            domain=env.get("APP_LAYER_DOMAIN", "localhost"),
            registry=env.get("APP_LAYER_REGISTRY", "127.0.0.1:5000"),
            router_timeout=_number(env, "APP_LAYER_ROUTER_TIMEOUT", 60.0),
            router_body_size=_size(env, "APP_LAYER_ROUTER_BODY_SIZE", "100m"),
            router_cert=env.get("APP_LAYER_ROUTER_CERT", ""),
            router_key=env.get("APP_LAYER_ROUTER_KEY", ""),
            keep_releases=int(_number(env, "APP_LAYER_KEEP_RELEASES", 5)),
            run_timeout=_number(env, "APP_LAYER_RUN_TIMEOUT", 600.0),
            docker_host=env.get("DOCKER_HOST", ""),
            stop_grace=_number(env, "APP_LAYER_STOP_GRACE", 10.0),
            drain_seconds=_number(env, "APP_LAYER_DRAIN_SECONDS", 2.0, minimum=0.0),
            buildpack_paths=tuple(p for p in env.get("APP_LAYER_BUILDPACK_PATHS", "").split(":") if p.startswith("/")),
        )
        if overrides:
            settings = replace(settings, **overrides)  # type: ignore[arg-type]
        if bool(settings.router_cert) != bool(settings.router_key):
            raise SettingsError("APP_LAYER_ROUTER_CERT, APP_LAYER_ROUTER_KEY: give both files or neither")
        if settings.scheduler == "marathon" and not settings.marathon_url:
            raise SettingsError("MARATHON_URL: required when APP_LAYER_SCHEDULER=marathon")
        if settings.scheduler == "fleet" and not settings.fleet_endpoint:
            raise SettingsError("FLEET_ENDPOINT: required when APP_LAYER_SCHEDULER=fleet")
        return settings

    def with_secrets(self) -> Settings:
        """Fill the secret key and builder key from the data dir, generating them on first start."""
        secret = self.secret_key or _kept_secret(self.data_dir / "secret_key")
        builder = self.builder_key or _kept_secret(self.data_dir / "builder_key")
        return replace(self, secret_key=secret, builder_key=builder)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _kept_secret(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        value = secrets.token_hex(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(value)
        return value


def _port(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise SettingsError(f"{name}: must be a port number between 1 and 65535, not {raw!r}")
    return int(raw)


def _number(env: dict[str, str], name: str, default: float, minimum: float | None = None) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}: must be a number, not {raw!r}") from None
    if minimum is not None and value < minimum:
        raise SettingsError(f"{name}: must be at least {minimum:g}")
    if minimum is None and value <= 0:
        raise SettingsError(f"{name}: must be greater than zero")
    return value


def _choice(env: dict[str, str], name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise SettingsError(f"{name}: must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _size(env: dict[str, str], name: str, default: str) -> str:
    raw = env.get(name) or default
    if not re.fullmatch(r"[0-9]+[kKmMgG]?", raw):
        raise SettingsError(f"{name}: must be a size such as 512k, 100m or 1g, not {raw!r}")
    return raw.lower()
