"""Domain errors -> HTTP answers, in one place. No stack trace ever reaches a client."""
from __future__ import annotations

import logging

import marshmallow
from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from app_layer import errors

log = logging.getLogger(__name__)

_STATUS = {
    errors.ValidationError: 400,
    errors.BadRequest: 400,
    errors.NotAuthenticated: 401,
    errors.PermissionDenied: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.NotSupported: 501,
    errors.Unavailable: 503,
}


def status_of(exc: errors.AppLayerError) -> int:
    for cls in type(exc).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return 400


def field_errors(messages: dict | list | str) -> dict[str, list[str]]:
    """marshmallow's messages as Deis's ``{field: [msgs]}``; schema-level ones as ``non_field_errors``."""
    if not isinstance(messages, dict):
        return {"non_field_errors": [str(m) for m in (messages if isinstance(messages, list) else [messages])]}
    out: dict[str, list[str]] = {}
    for key, value in messages.items():
        name = "non_field_errors" if key == "_schema" else str(key)
        if isinstance(value, dict):
            flat = [f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in value.items()]
        elif isinstance(value, list):
            flat = [str(v) for v in value]
        else:
            flat = [str(value)]
        out[name] = flat
    return out


def register(app: Flask) -> None:
    @app.errorhandler(errors.AppLayerError)
    def _domain(exc: errors.AppLayerError):  # type: ignore[no-untyped-def]
        status = status_of(exc)
        if isinstance(exc, errors.ValidationError):
            if list(exc.fields) == ["detail"]:
                body: dict = {"detail": " ".join(exc.fields["detail"])}
            else:
                body = exc.fields
        else:
            body = {"detail": exc.detail}
        response = jsonify(body)
        response.status_code = status
        if status == 401:
            response.headers["WWW-Authenticate"] = "Token"
        return response

    @app.errorhandler(marshmallow.ValidationError)
    def _invalid(exc: marshmallow.ValidationError):  # type: ignore[no-untyped-def]
        return jsonify(field_errors(exc.messages)), 400

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):  # type: ignore[no-untyped-def]
        if exc.code == 405:
            from flask import request

            detail = f"Method '{request.method}' not allowed."
        elif exc.code == 404:
            detail = "Not found."
        else:
            detail = exc.description or exc.name
        response = jsonify({"detail": detail})
        response.status_code = exc.code or 500
        if exc.code == 405 and exc.valid_methods:  # type: ignore[attr-defined]
            response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):  # type: ignore[no-untyped-def]
        log.exception("unhandled error")
        return jsonify({"detail": "Internal error; it has been logged."}), 500
