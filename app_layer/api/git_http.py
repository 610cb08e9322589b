"""git push and fetch over HTTP: ``/<app>.git/...`` served by git's own ``git http-backend`` (CGI).

HTTP Basic auth, the API token as the password (any user name). The caller's right to the app
is checked before git sees the request, so a stranger's push is refused (403) before any object
is received; the pre-receive hook then builds and releases exactly as for a push over SSH, and
its output reaches the client through git's sideband as it happens.
"""
from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from typing import IO

from flask import Blueprint, Response, request
from sqlalchemy import select
from werkzeug.wsgi import get_input_stream

from app_layer import apps, users
from app_layer.api.context import platform, token_from_request
from app_layer.builds import repos
from app_layer.builds.config import BuilderConfig
from app_layer.errors import NotAuthenticated
from app_layer.models import App

bp = Blueprint("git_http", __name__)

SERVICES = ("git-upload-pack", "git-receive-pack")
CHUNK = 64 * 1024


def _text(status: int, message: str) -> Response:
    """Plain text: git shows it to the user as ``remote: <message>``."""
    response = Response(message + "\n", status=status, mimetype="text/plain")
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="app-layer"'
    response.headers["Cache-Control"] = "no-cache"
    return response


def _service(rest: str) -> str | None:
    """The git service asked for; None for anything but the smart protocol."""
    if rest == "info/refs" and request.method == "GET":
        service = request.args.get("service", "")
        return service if service in SERVICES else None
    if rest in SERVICES and request.method == "POST":
        return rest
    return None


@bp.route("/<app_id>.git/<path:rest>", methods=["GET", "POST"])
def serve(app_id: str, rest: str) -> Response:
    service = _service(rest)
    if not repos.APP_ID.match(app_id) or service is None:
        return _text(404, "Not found: this URL serves git's smart HTTP protocol only.")
    plat = platform()
    token = token_from_request()
    if token is None:
        return _text(401, "Authentication required: use your API token as the password.")
    push = service == "git-receive-pack"
    with plat.db.read() as session:
        try:
            user = users.user_for_token(session, token)
        except NotAuthenticated:
            return _text(401, "Invalid token: use your API token (deis auth:whoami --show-token) as the password.")
        app = session.scalar(select(App).where(App.id == app_id))
        if app is None:
            return _text(404, f"There is no app named {app_id!r}. Create it first: deis apps:create {app_id}")
        if not apps.may_use(session, user, app):
            return _text(403, f"{user.username} may not {'push to' if push else 'read'} {app_id}.")
        username = user.username
    config = BuilderConfig.from_settings(plat.settings)
    if push:
        repos.ensure_repo(config.repos, app_id)
    elif not (repos.repo_path(config.repos, app_id) / "HEAD").exists():
        return _text(404, f"{app_id} has no code yet; git push to it first.")
    return _run_backend(config, app_id, rest, username)


def _cgi_env(config: BuilderConfig, app_id: str, rest: str, username: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/"),
        "GATEWAY_INTERFACE": "CGI/1.1",
        "SERVER_PROTOCOL": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
        "REQUEST_METHOD": request.method,
        "GIT_PROJECT_ROOT": config.repos,
        "GIT_HTTP_EXPORT_ALL": "1",
        "PATH_INFO": f"/{app_id}.git/{rest}",
        "QUERY_STRING": request.query_string.decode("latin-1"),
        "CONTENT_TYPE": request.headers.get("Content-Type", ""),
        "REMOTE_USER": username,
        "REMOTE_ADDR": request.remote_addr or "",
        **config.to_env(),
        "RECEIVE_USER": username,
        "RECEIVE_REPO": app_id,
        "RECEIVE_FINGERPRINT": "",
    }
    if request.content_length is not None:
        env["CONTENT_LENGTH"] = str(request.content_length)
    for header, name in (("Content-Encoding", "HTTP_CONTENT_ENCODING"), ("Git-Protocol", "HTTP_GIT_PROTOCOL")):
        if request.headers.get(header):
            env[name] = request.headers[header]
    return env


def _feed(body: IO[bytes], sink: IO[bytes]) -> None:
    try:
        while chunk := body.read(CHUNK):
            sink.write(chunk)
    except (OSError, ValueError):
        pass  # the client went away, or git stopped reading: git reports it
    finally:
        try:
            sink.close()
        except OSError:
            pass


def _run_backend(config: BuilderConfig, app_id: str, rest: str, username: str) -> Response:
    body = get_input_stream(request.environ, max_content_length=None)  # pushes may be large
    env = _cgi_env(config, app_id, rest, username)
    lock = repos.open_lock(config.locks, app_id) if rest == "git-receive-pack" else None
    try:
        if lock is not None:  # the hook locks it; http-backend and receive-pack hold it until they exit
            env[repos.LOCK_FD_ENV] = str(lock)
        proc = subprocess.Popen(["git", "http-backend"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                env=env, pass_fds=(lock,) if lock is not None else ())
    finally:
        if lock is not None:
            os.close(lock)
    assert proc.stdin is not None and proc.stdout is not None
    feeder = threading.Thread(target=_feed, args=(body, proc.stdin), daemon=True)
    feeder.start()
    status, headers = 200, []
    while (line := proc.stdout.readline().rstrip(b"\r\n")):
        name, _, value = line.decode("latin-1").partition(":")
        if name.lower() == "status":
            status = int(value.strip().split()[0])
        else:
            headers.append((name.strip(), value.strip()))

    def stream() -> Iterator[bytes]:
        try:
            while chunk := proc.stdout.read1(CHUNK):  # type: ignore[union-attr]
                yield chunk
        finally:
            proc.stdout.close()  # type: ignore[union-attr]
            feeder.join(5)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    return Response(stream(), status=status, headers=headers, direct_passthrough=True)
