"""nginx for the router: a pure ``render`` of the configuration, and the child process that runs it.

The configuration names servers and certificates only; which processes serve an app is kept in
nginx's shared memory by the Lua balancer (``app_layer_balancer.lua``), so endpoint changes never
reload nginx. Every server answers every app: ``map $host`` turns the Host header into an app
name (``<app>.<domain>``, a custom domain, or ``app-layer`` for the controller).
"""
from __future__ import annotations

import hashlib
import os
import pwd
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

LUA_DIR = Path(__file__).resolve().parent
CONTROLLER = "app-layer"          # the app name the controller is routed under
CONTROLLER_NAMES = ("app-layer", "deis")
HOSTNAME_RE = re.compile(r"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
APP_RE = re.compile(r"^[a-z0-9-]+$")
MODULES = ("/usr/lib/nginx/modules/ndk_http_module.so", "/usr/lib/nginx/modules/ngx_http_lua_module.so")


@dataclass(frozen=True)
class Cert:
    """A certificate and its key (PEM), served for the host names it is named for."""

    name: str            # common name: "www.example.com" or "*.example.com"
    certificate: str
    key: str

    @property
    def digest(self) -> str:
        return hashlib.sha256((self.certificate + "\0" + self.key).encode()).hexdigest()[:20]

    def matches(self, host: str) -> bool:
        if self.name.startswith("*."):
            suffix = self.name[1:]
            return host.endswith(suffix) and len(host) > len(suffix) and "." not in host[: -len(suffix)]
        return host == self.name


@dataclass(frozen=True)
class RouterConfig:
    """What the rendered configuration depends on besides domains and certificates."""

    prefix: Path                       # nginx's own folder: conf, logs, temp, certs, admin socket
    domain: str = "localhost"
    listen: str = "127.0.0.1"
    http_port: int = 8080
    tls_port: int = 8443
    timeout: float = 60.0
    body_size: str = "100m"
    platform_cert: Cert | None = None  # for *.<domain>, from the operator
    workers: str = "auto"
    access_log: bool = True            # one line per request in <prefix>/logs/access.log
    user: str = field(default_factory=lambda: pwd.getpwuid(os.geteuid()).pw_name)

    @property
    def admin_socket(self) -> Path:
        return self.prefix / "admin.sock"

    def cert_paths(self, cert: Cert) -> tuple[Path, Path]:
        """Content-addressed files, so a refused render never overwrites what the running config uses."""
        base = self.prefix / "certs" / cert.digest
        return base.with_suffix(".crt"), base.with_suffix(".key")


def _q(value: str) -> str:
    """An nginx string literal; everything we quote was validated first, quoting is belt and braces."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def tls_hosts(domains: list[tuple[str, str]], certs: list[Cert]) -> dict[str, Cert]:
    """Custom domain -> the certificate that names it (exact name before wildcard)."""
    out = {}
    for host, _app in domains:
        exact = [c for c in certs if c.name == host]
        wild = [c for c in certs if c.name.startswith("*.") and c.matches(host)]
        if exact or wild:
            out[host] = (exact or wild)[0]
    return out


def render(domains: list[tuple[str, str]], certs: list[Cert], cfg: RouterConfig) -> str:
    """The whole nginx.conf for custom ``domains`` ((host, app) pairs) and ``certs``. Pure.

    Names that are not valid host names or app ids are left out rather than trusted.
    """
    if not HOSTNAME_RE.match(cfg.domain):
        raise ValueError(f"APP_LAYER_DOMAIN: not a host name: {cfg.domain!r}")
    domains = sorted((h, a) for h, a in domains if HOSTNAME_RE.match(h) and APP_RE.match(a)
                     and h != cfg.domain and not h.endswith("." + cfg.domain))
    certs = sorted((c for c in certs if HOSTNAME_RE.match(c.name)), key=lambda c: c.name)
    by_host = tls_hosts(domains, certs)
    escaped = re.escape(cfg.domain)
    https_port = "" if cfg.tls_port == 443 else f":{cfg.tls_port}"
    tls = [f"    {host} 1;" for host in by_host]
    if cfg.platform_cert is not None:
        tls.append(f"    ~^[a-z0-9-]+\\.{escaped}$ 1;")
        tls.append(f"    {cfg.domain} 1;")
    names = [f"    {host} {app};" for host, app in domains]
    names += [f"    {n}.{cfg.domain} {CONTROLLER};" for n in CONTROLLER_NAMES]
    names += [f"    {cfg.domain} {CONTROLLER};", f"    ~^(?<app_layer_sub>[a-z0-9-]+)\\.{escaped}$ $app_layer_sub;"]
    location = _location(cfg)
    servers = [f"""
    server {{
        listen {cfg.listen}:{cfg.http_port} default_server;
        server_name _;
        if ($app_layer_redirect) {{
            return 301 https://$host{https_port}$request_uri;
        }}
{location}
    }}"""]
    if cfg.platform_cert is not None:
        crt, key = cfg.cert_paths(cfg.platform_cert)
        servers.append(_tls_server(cfg, "_", crt, key, location, default=True))
    grouped: dict[Cert, list[str]] = {}
    for host, cert in by_host.items():
        grouped.setdefault(cert, []).append(host)
    for cert, hosts in sorted(grouped.items(), key=lambda item: item[0].name):
        crt, key = cfg.cert_paths(cert)
        servers.append(_tls_server(cfg, " ".join(sorted(hosts)), crt, key, location,
                                   default=cfg.platform_cert is None and not servers[1:]))
    modules = "\n".join(f"load_module {m};" for m in MODULES)
    p = cfg.prefix
    access_log = (f"access_log {p / 'logs' / 'access.log'} combined buffer=64k flush=1s;" if cfg.access_log
                  else "access_log off;")
    return f"""# rendered by app_layer/routing/nginx.py: do not edit, it is replaced on every change
{modules}
user {cfg.user};
worker_processes {cfg.workers};
pcre_jit on;
pid {p / 'nginx.pid'};
error_log {p / 'logs' / 'error.log'} warn;

events {{
    worker_connections 4096;
}}

http {{
    {access_log}
    client_body_temp_path {p / 'temp' / 'body'};
    proxy_temp_path {p / 'temp' / 'proxy'};
    fastcgi_temp_path {p / 'temp' / 'fastcgi'};
    uwsgi_temp_path {p / 'temp' / 'uwsgi'};
    scgi_temp_path {p / 'temp' / 'scgi'};
    server_tokens off;
    client_max_body_size {cfg.body_size};
    server_names_hash_bucket_size 128;
    map_hash_bucket_size 128;

    lua_package_path {_q(str(LUA_DIR) + '/?.lua;;')};
    lua_shared_dict app_layer_endpoints 16m;
    init_by_lua_block {{ require "app_layer_balancer" }}

    map $host $app_layer_app {{
    hostnames;
    default "";
{chr(10).join(names)}
    }}
    map $host $app_layer_tls {{
    hostnames;
    default 0;
{chr(10).join(tls)}
    }}
    map "$scheme:$app_layer_tls" $app_layer_redirect {{
        default 0;
        "http:1" 1;
    }}
    map $http_upgrade $app_layer_connection {{
        default upgrade;
        "" "";
    }}
    map $http_x_request_id $app_layer_request_id {{
        default $http_x_request_id;
        "" $request_id;
    }}

    upstream app_layer_upstream {{
        server 0.0.0.1;  # placeholder: the Lua balancer picks the endpoint
        balancer_by_lua_block {{ require("app_layer_balancer").balance() }}
        keepalive 256;
    }}

    server {{
        listen unix:{cfg.admin_socket};
        client_max_body_size 16m;
        client_body_buffer_size 16m;
        location = /endpoints {{
            content_by_lua_block {{ require("app_layer_balancer").endpoints() }}
        }}
        location = /healthz {{
            return 200 "ok\\n";
        }}
    }}
{''.join(servers)}
}}
"""


def _tls_server(cfg: RouterConfig, names: str, crt: Path, key: Path, location: str, default: bool) -> str:
    return f"""
    server {{
        listen {cfg.listen}:{cfg.tls_port} ssl{' default_server' if default else ''};
        server_name {names};
        ssl_certificate {crt};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:app_layer_tls:10m;
{location}
    }}"""


def _location(cfg: RouterConfig) -> str:
    timeout = f"{cfg.timeout:g}s"
    return f"""        location / {{
            access_by_lua_block {{ require("app_layer_balancer").access() }}
            proxy_pass http://app_layer_upstream;
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $app_layer_connection;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Port $server_port;
            proxy_set_header X-Request-Id $app_layer_request_id;
            add_header X-Request-Id $app_layer_request_id always;
            proxy_connect_timeout 5s;
            proxy_send_timeout {timeout};
            proxy_read_timeout {timeout};
            proxy_next_upstream error timeout;
            proxy_next_upstream_timeout {timeout};
        }}"""


def cert_files(certs: list[Cert], cfg: RouterConfig) -> dict[Path, str]:
    """The files a rendered configuration refers to, by path."""
    out = {}
    for cert in [*certs, *([cfg.platform_cert] if cfg.platform_cert else [])]:
        crt, key = cfg.cert_paths(cert)
        out[crt] = cert.certificate
        out[key] = cert.key
    return out


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


class NginxError(RuntimeError):
    """nginx refused a configuration or would not start; the message is nginx's own."""


class NginxProcess:
    """An nginx master run as our child, with its own prefix; never the system service."""

    def __init__(self, prefix: Path, binary: str = "nginx"):
        self.prefix = prefix
        self.binary = binary
        self.proc: subprocess.Popen | None = None
        for sub in ("conf", "logs", "temp", "certs"):
            (prefix / sub).mkdir(parents=True, exist_ok=True)
        (prefix / "certs").chmod(0o700)

    @property
    def conf(self) -> Path:
        return self.prefix / "conf" / "nginx.conf"

    def _argv(self, conf: Path) -> list[str]:
        return [self.binary, "-p", str(self.prefix), "-c", str(conf), "-e", str(self.prefix / "logs" / "error.log")]

    def test(self, text: str) -> None:
        """Check ``text`` with ``nginx -t``; raises ``NginxError`` with nginx's complaint."""
        candidate = self.prefix / "conf" / "nginx.conf.new"
        candidate.write_text(text)
        result = subprocess.run([*self._argv(candidate), "-t", "-q"], capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            raise NginxError((result.stderr or result.stdout).strip())

    def apply(self, text: str, files: dict[Path, str]) -> None:
        """Write the certificate files, test ``text``, and load it (start or reload). Keeps the last
        good configuration running when nginx refuses the new one."""
        for path, content in files.items():
            if not path.exists():
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as fh:
                    fh.write(content)
        self.test(text)
        os.replace(self.prefix / "conf" / "nginx.conf.new", self.conf)
        if self.running:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGHUP)
        else:
            self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _stop_leftover(self) -> None:
        """An nginx of ours left running by a router that was killed: stop it, it holds our ports."""
        try:
            pid = int((self.prefix / "nginx.pid").read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()  # "nginx: master process nginx -p <prefix> ..."
        except (OSError, ValueError):
            return
        if not cmdline.startswith(b"nginx") or str(self.prefix).encode() not in cmdline:
            return
        os.kill(pid, signal.SIGQUIT)
        until = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < until:
            time.sleep(0.05)

    def start(self) -> None:
        self._stop_leftover()
        (self.prefix / "admin.sock").unlink(missing_ok=True)
        log = (self.prefix / "logs" / "nginx.out").open("ab")
        self.proc = subprocess.Popen([*self._argv(self.conf), "-g", "daemon off;"], stdout=log,
                                     stderr=subprocess.STDOUT)  # in our process group: stopped with us
        log.close()
        until = time.monotonic() + 15
        while not (self.prefix / "admin.sock").exists():
            if self.proc.poll() is not None:
                raise NginxError(f"nginx exited with {self.proc.returncode}: see {self.prefix / 'logs'}")
            if time.monotonic() > until:
                raise NginxError("nginx did not open its admin socket within 15s")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: finish requests in flight
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        (self.prefix / "admin.sock").unlink(missing_ok=True)
