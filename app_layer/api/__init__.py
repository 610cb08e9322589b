"""The controller's WSGI application: the Deis v1 REST API (``/v1/``), ``/healthz`` and the web UI."""
from __future__ import annotations

from flask import Flask, Response

from app_layer import API_VERSION, __version__
from app_layer.api import (
    accounts,
    apps,
    certs,
    compat,
    containers,
    domains,
    errors,
    git_http,
    history,
    hooks,
    keys,
    openapi,
    web,
)
from app_layer.platform import Platform

BLUEPRINTS = (accounts.bp, apps.bp, history.bp, containers.bp, domains.bp, certs.bp, keys.bp, hooks.bp,
              git_http.bp, web.bp, openapi.bp, compat.bp)


def create_app(platform: Platform) -> Flask:
    """Build the Flask app around an already built ``Platform`` (settings, database, backend)."""
    app = Flask(__name__)
    app.url_map.strict_slashes = False
    app.wsgi_app = _TrailingSlash(app.wsgi_app)  # type: ignore[method-assign]
    app.config.update(SECRET_KEY=platform.settings.secret_key, MAX_CONTENT_LENGTH=4 * 1024 * 1024,
                      JSON_SORT_KEYS=False)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.compact = True  # type: ignore[attr-defined]
    app.extensions["app_layer"] = platform
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    errors.register(app)

    @app.route("/healthz", methods=["GET", "HEAD"])
    def healthz() -> Response:
        return Response("OK", mimetype="text/plain")

    @app.after_request
    def version_headers(response: Response) -> Response:
        # Header names with underscores, exactly as the Deis clients read them.
        response.headers["DEIS_API_VERSION"] = API_VERSION
        response.headers["X_DEIS_API_VERSION"] = API_VERSION
        response.headers["DEIS_PLATFORM_VERSION"] = __version__
        response.headers["X_DEIS_PLATFORM_VERSION"] = __version__
        return response

    return app


class _TrailingSlash:
    """``/v1/apps`` and ``/v1/apps/`` are the same resource, as in Deis (for 405s too)."""

    def __init__(self, wsgi_app):  # type: ignore[no-untyped-def]
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):  # type: ignore[no-untyped-def]
        path = environ.get("PATH_INFO", "")
        if path.startswith("/v1") and not path.endswith("/"):
            environ["PATH_INFO"] = path + "/"
        return self.wsgi_app(environ, start_response)
