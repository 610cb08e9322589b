"""Checks that apply to every request: the Deis ``Deis-Version`` header, NUL characters in the URL."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from app_layer import API_VERSION

bp = Blueprint("compat", __name__)
MAJOR = API_VERSION.split(".")[0]


@bp.before_app_request
def check_client_version():  # type: ignore[no-untyped-def]
    """A client announcing another major API version is refused (405), as the Deis controller did."""
    version = request.headers.get("Deis-Version")
    if version is not None and version.split(".")[0] != MAJOR:
        response = jsonify({"error": f"Client and server versions do not match. Client version: {version[:20]} "
                                     f"Server version: {MAJOR}"})
        response.status_code = 405
        return response
    return None


@bp.before_app_request
def refuse_nul():  # type: ignore[no-untyped-def]
    """NUL in a path or query string is never meaningful, and PostgreSQL cannot compare text with it."""
    if "\x00" in request.path or any("\x00" in k or "\x00" in v for k, v in request.args.items(multi=True)):
        response = jsonify({"detail": "NUL characters are not allowed in URLs."})
        response.status_code = 400
        return response
    return None
