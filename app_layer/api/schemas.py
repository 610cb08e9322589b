"""marshmallow schemas for every request body. Unknown fields are ignored, as Deis did.

The same schemas feed the OpenAPI document, so what is validated is what is documented.
"""
from __future__ import annotations

import re
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validate, validates_schema

USERNAME = validate.Regexp(r"^[\w.@+-]+$", error="Usernames may contain only letters, digits and @/./+/-/_.")


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


class Base(Schema):
    class Meta:
        unknown = EXCLUDE

    @pre_load
    def _no_nul(self, data: Any, **kwargs: Any) -> Any:
        """NUL characters are refused everywhere (PostgreSQL cannot store them in text)."""
        if isinstance(data, dict):
            errors = {str(k): ["NUL characters are not allowed."] for k, v in data.items()
                      if k in self.fields and _has_nul(v)}
            if errors:
                raise ValidationError(errors)
        return data


class JSONObjectOrString(fields.Field):
    """A JSON object, or a JSON-encoded string of one (the Deis Python client sends strings)."""

    def __init__(self, **kwargs: Any):
        metadata = {"oneOf": [{"type": "object"}, {"type": "string"}], **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if value is None or isinstance(value, dict | str):
            return value
        raise ValidationError("Must be a JSON object or a JSON-encoded string of one.")


class Register(Base):
    username = fields.String(required=True, validate=[validate.Length(1, 150), USERNAME])
    password = fields.String(required=True, validate=validate.Length(1, 1024))
    email = fields.Email(required=True, validate=validate.Length(max=254))
    first_name = fields.String(load_default="", validate=validate.Length(max=30))
    last_name = fields.String(load_default="", validate=validate.Length(max=150))


class Login(Base):
    username = fields.String(required=True, validate=validate.Length(1, 150))
    password = fields.String(required=True, validate=validate.Length(1, 1024))


class Passwd(Base):
    password = fields.String(load_default=None, validate=validate.Length(max=1024))
    new_password = fields.String(required=True, validate=validate.Length(1, 1024))
    username = fields.String(load_default=None, validate=[validate.Length(1, 150), USERNAME])


class Tokens(Base):
    username = fields.String(load_default=None, validate=[validate.Length(1, 150), USERNAME])
    all = fields.Boolean(load_default=False)


class Username(Base):
    username = fields.String(required=True, validate=[validate.Length(1, 150), USERNAME])


class OptionalUsername(Base):
    username = fields.String(load_default=None, validate=[validate.Length(1, 150), USERNAME])


class AppCreate(Base):
    id = fields.String(load_default=None, validate=validate.Length(1, 63))


class AppUpdate(Base):
    owner = fields.String(required=True, validate=[validate.Length(1, 150), USERNAME])


class ConfigChange(Base):
    values = JSONObjectOrString(load_default=None)
    memory = JSONObjectOrString(load_default=None)
    cpu = JSONObjectOrString(load_default=None)
    tags = JSONObjectOrString(load_default=None)


class BuildCreate(Base):
    image = fields.String(required=True, validate=[
        validate.Length(1, 256),
        validate.Regexp(r"^[a-zA-Z0-9][a-zA-Z0-9._/:@-]*$", error="Not a valid Docker image reference."),
    ])
    procfile = JSONObjectOrString(load_default=None)
    sha = fields.String(load_default="", validate=validate.Regexp(r"^[0-9a-f]{0,40}$",
                                                                   error="Must be a hex git sha (at most 40)."))
    dockerfile = fields.String(load_default="", validate=validate.Length(max=64 * 1024))


class WholeNumber(fields.Integer):
    """An integer, or a string of one (form bodies); ``1.5`` is refused rather than truncated."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValidationError("Not a valid integer.")
        return super()._deserialize(value, attr, data, **kwargs)


class Rollback(Base):
    version = WholeNumber(load_default=None, strict=False, allow_none=True,
                          validate=validate.Range(max=2**31 - 1, error="Must be at most {max}."))


class Run(Base):
    command = fields.String(required=True, validate=validate.Length(1, 4096))


class KeyCreate(Base):
    id = fields.String(required=True, validate=validate.Length(1, 128))
    public = fields.String(required=True, validate=validate.Length(1, 16 * 1024))


class DomainCreate(Base):
    domain = fields.String(required=True, validate=validate.Length(1, 255))


class CertCreate(Base):
    certificate = fields.String(required=True, validate=validate.Length(1, 64 * 1024))
    key = fields.String(required=True, validate=validate.Length(1, 64 * 1024))
    common_name = fields.String(load_default=None, validate=validate.Length(1, 255))


class PushHook(Base):
    receive_user = fields.String(required=True, validate=validate.Length(1, 150))
    receive_repo = fields.String(required=True, validate=validate.Length(1, 63))
    sha = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{1,40}$", error="Must be a hex git sha."))
    fingerprint = fields.String(load_default="", validate=validate.Length(max=255))
    ssh_connection = fields.String(load_default="", validate=validate.Length(max=255))
    ssh_original_command = fields.String(load_default="", validate=validate.Length(max=255))


class ConfigHook(Base):
    receive_user = fields.String(required=True, validate=validate.Length(1, 150))
    receive_repo = fields.String(required=True, validate=validate.Length(1, 63))


class BuildHook(ConfigHook):
    image = fields.String(required=True, validate=validate.Length(1, 256))
    sha = fields.String(load_default="", validate=validate.Regexp(r"^[0-9a-f]{0,40}$", error="Must be a hex git sha."))
    procfile = JSONObjectOrString(load_default=None)
    dockerfile = fields.String(load_default="", validate=validate.Length(max=64 * 1024))


class Scale(Schema):
    """``{"<type>": <count>}``; counts may be numeric strings, as Deis accepted."""

    class Meta:
        unknown = "include"

    @validates_schema
    def _counts(self, data: dict[str, Any], **kwargs: Any) -> None:
        errors: dict[str, list[str]] = {}
        if not data:
            raise ValidationError("Give at least one process type and count, e.g. {\"web\": 2}.")
        for key, value in data.items():
            if not isinstance(key, str) or not re.match(r"^[a-z][a-z0-9_-]{0,62}$", key):
                errors[str(key)[:64]] = ["Process types must match ^[a-z][a-z0-9_-]*$."]
            elif isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str)
                                                                              and value.isdigit())):
                errors[key] = ["Must be a whole number greater than or equal to zero."]
            elif not 0 <= int(value) <= 100:
                errors[key] = ["Must be between 0 and 100."]
        if errors:
            raise ValidationError(errors)


def scale_counts(data: dict[str, Any]) -> dict[str, int]:
    Scale().load(data)
    return {k: int(v) for k, v in data.items()}
