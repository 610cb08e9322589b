"""Deis client compatibility that applies to every request: the ``Deis-Version`` request header."""
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
