"""Domain exceptions. The API turns each into an HTTP answer in one place (``api/errors.py``)."""
from __future__ import annotations


class AppLayerError(Exception):
    """Base of every error a user can act on."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class ValidationError(AppLayerError):
    """Input broke a rule; ``fields`` maps each field to its messages (400)."""

    def __init__(self, fields: dict[str, list[str]] | str):
        if isinstance(fields, str):
            fields = {"detail": [fields]}
        self.fields = fields
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in fields.items()))


class BadRequest(AppLayerError):
    """A request that cannot be carried out as asked (400, ``{"detail": ...}``)."""


class NotAuthenticated(AppLayerError):
    """No valid credentials (401)."""


class PermissionDenied(AppLayerError):
    """Authenticated, but not allowed (403)."""

    def __init__(self, detail: str = "You do not have permission to perform this action."):
        super().__init__(detail)


class NotFound(AppLayerError):
    """No such object (404)."""

    def __init__(self, detail: str = "Not found."):
        super().__init__(detail)


class Conflict(AppLayerError):
    """The request conflicts with the current state (409)."""


class Unavailable(AppLayerError):
    """The scheduler cannot do it right now (503); nothing was changed but what ``detail`` says."""


class NotSupported(AppLayerError):
    """The configured backend does not have that capability (501)."""


class RolloutFailed(Unavailable):
    """New processes did not become healthy in time; the previous release keeps serving."""
