"""The OpenAPI 3 document of the ``/v1`` API, served at ``/v1/openapi.json``.

Request bodies are the marshmallow schemas in ``api/schemas.py`` that validate the input; the
response shapes below are marshmallow schemas too (documentation only: the serializers write
plain dicts). ``OPERATIONS`` names every (method, Flask rule) of ``/v1``; a test fails when a
route is added without an entry here.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, current_app
from marshmallow import Schema, fields

from app_layer import API_VERSION
from app_layer.api import schemas

bp = Blueprint("openapi", __name__)


class _Audited(Schema):
    created = fields.String(metadata={"example": "2026-11-22T03:37:39UTC"})
    updated = fields.String()


class UserOut(Schema):
    username = fields.String()
    email = fields.String()
    first_name = fields.String()
    last_name = fields.String()
    is_superuser = fields.Boolean()
    is_staff = fields.Boolean()
    is_active = fields.Boolean()
    groups = fields.List(fields.String())
    user_permissions = fields.List(fields.String())
    last_login = fields.String(allow_none=True)
    date_joined = fields.String()


class AppOut(_Audited):
    uuid = fields.String()
    id = fields.String()
    owner = fields.String()
    url = fields.String()
    structure = fields.Dict(keys=fields.String(), values=fields.Integer())


class ConfigOut(_Audited):
    uuid = fields.String()
    app = fields.String()
    owner = fields.String()
    values = fields.Dict(keys=fields.String(), values=fields.String())
    memory = fields.Dict(keys=fields.String(), values=fields.String())
    cpu = fields.Dict(keys=fields.String(), values=fields.Integer())
    tags = fields.Dict(keys=fields.String(), values=fields.String())


class BuildOut(_Audited):
    uuid = fields.String()
    app = fields.String()
    owner = fields.String()
    image = fields.String()
    sha = fields.String()
    procfile = fields.Dict(keys=fields.String(), values=fields.String())
    dockerfile = fields.String()


class ReleaseOut(_Audited):
    uuid = fields.String()
    app = fields.String()
    owner = fields.String()
    version = fields.Integer()
    summary = fields.String()
    config = fields.String()
    build = fields.String(allow_none=True)
    state = fields.String(metadata={"enum": ["pending", "deployed", "failed", "superseded"]})
    failure = fields.String()


class ContainerOut(_Audited):
    uuid = fields.String()
    app = fields.String()
    owner = fields.String()
    release = fields.String(metadata={"example": "v2"})
    type = fields.String()
    num = fields.Integer()
    state = fields.String()
    healthy = fields.Boolean(allow_none=True)


class KeyOut(_Audited):
    uuid = fields.String()
    id = fields.String()
    owner = fields.String()
    public = fields.String()
    fingerprint = fields.String()


class DomainOut(_Audited):
    owner = fields.String()
    app = fields.String()
    domain = fields.String()


class CertificateOut(_Audited):
    id = fields.Integer()
    owner = fields.String()
    common_name = fields.String()
    expires = fields.String()


class PushOut(_Audited):
    uuid = fields.String()
    owner = fields.String()
    app = fields.String()
    sha = fields.String()
    fingerprint = fields.String()
    receive_user = fields.String()
    receive_repo = fields.String()
    ssh_connection = fields.String()
    ssh_original_command = fields.String()


class AdminOut(Schema):
    username = fields.String()
    is_superuser = fields.Boolean()


class TokenOut(Schema):
    token = fields.String(metadata={"pattern": "^[0-9a-f]{40}$"})


class StatusOut(Schema):
    status = fields.String()


class VersionOut(Schema):
    version = fields.Integer()


class PermsOut(Schema):
    users = fields.List(fields.String())


class _ReleaseRef(Schema):
    version = fields.Integer()


class BuildHookOut(Schema):
    release = fields.Nested(_ReleaseRef)
    domains = fields.List(fields.String())


class KeyLookupOut(Schema):
    username = fields.String()
    fingerprint = fields.String()
    public = fields.String()


class Empty(Schema):
    """An empty JSON object (``GET /v1/``)."""


ERROR = {"type": "object", "description": "``{\"detail\": msg}`` or ``{field: [msgs]}``",
         "additionalProperties": True}
PAGE_ARGS = [
    {"in": "query", "name": "page", "schema": {"type": "integer", "minimum": 1}},
    {"in": "query", "name": "page_size", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
]
SCALE_BODY = {"type": "object", "minProperties": 1,
              "additionalProperties": {"oneOf": [{"type": "integer", "minimum": 0, "maximum": 100},
                                                 {"type": "string", "pattern": "^[0-9]+$"}]},
              "example": {"web": 2}}


@dataclass(frozen=True)
class Op:
    summary: str
    status: int = 200
    out: type[Schema] | str | None = None  # a schema, "page:<Schema>", "list:<Schema>", "text" or None
    body: type[Schema] | dict | None = None
    auth: str = "token"  # token, builder, none
    query: list[dict[str, Any]] = field(default_factory=list)
    forms: bool = False


A = "/v1/apps/<app_id>"
C = f"{A}/containers"
OPERATIONS: dict[tuple[str, str], Op] = {
    ("GET", "/v1/"): Op("API root: 200 with a token, 401 without (how clients find a controller)", out=Empty),
    ("GET", "/v1/openapi.json/"): Op("This document", out="object", auth="none"),
    ("POST", "/v1/auth/register/"): Op("Register a user (the first becomes an admin)", 201, UserOut,
                                       schemas.Register, auth="none", forms=True),
    ("POST", "/v1/auth/login/"): Op("Log in: a new API token", 200, TokenOut, schemas.Login, auth="none",
                                    forms=True),
    ("DELETE", "/v1/auth/cancel/"): Op("Delete an account (yours, or any as admin)", 204,
                                       body=schemas.OptionalUsername),
    ("POST", "/v1/auth/passwd/"): Op("Change a password", 200, StatusOut, schemas.Passwd),
    ("POST", "/v1/auth/tokens/"): Op("Revoke tokens and issue a new one", 200, TokenOut, schemas.Tokens),
    ("GET", "/v1/users/"): Op("Every user (admins only)", out="page:UserOut", query=PAGE_ARGS),
    ("GET", "/v1/admin/perms/"): Op("Administrators (admins only)", out="page:AdminOut", query=PAGE_ARGS),
    ("POST", "/v1/admin/perms/"): Op("Make a user an administrator", 201, body=schemas.Username),
    ("DELETE", "/v1/admin/perms/<username>/"): Op("Revoke administrator rights", 204),
    ("GET", "/v1/apps/"): Op("Apps you own or share (admins: all)", out="page:AppOut", query=PAGE_ARGS),
    ("POST", "/v1/apps/"): Op("Create an app (release v1)", 201, AppOut, schemas.AppCreate),
    ("GET", f"{A}/"): Op("One app", out=AppOut),
    ("POST", f"{A}/"): Op("Transfer the app to another owner", 200, body=schemas.AppUpdate),
    ("DELETE", f"{A}/"): Op("Destroy the app and its processes (not collaborators)", 204),
    ("GET", f"{A}/perms/"): Op("Collaborators", out=PermsOut),
    ("POST", f"{A}/perms/"): Op("Share the app with a user (owner or admin)", 201, body=schemas.Username),
    ("DELETE", f"{A}/perms/<username>/"): Op("Revoke a collaborator", 204),
    ("POST", f"{A}/scale/"): Op("Set process counts", 204, body=SCALE_BODY),
    ("POST", f"{A}/run/"): Op("Run a one-off command: JSON [rc, output] as text/plain", 200, "text",
                              schemas.Run),
    ("GET", f"{A}/logs/"): Op("Recent log lines: text/plain; a JSON string for python-requests clients", 200,
                              "text", query=[{"in": "query", "name": "log_lines",
                                              "schema": {"type": "integer", "minimum": 0, "maximum": 100000}}]),
    ("GET", f"{A}/config/"): Op("The current config", out=ConfigOut),
    ("POST", f"{A}/config/"): Op("Change config: a new release (Deis-Release header)", 201, ConfigOut,
                                 schemas.ConfigChange),
    ("GET", f"{A}/builds/"): Op("Builds, newest first", out="page:BuildOut", query=PAGE_ARGS),
    ("POST", f"{A}/builds/"): Op("Record a build: a new release (Deis-Release header)", 201, BuildOut,
                                 schemas.BuildCreate),
    ("GET", f"{A}/builds/<build_uuid>/"): Op("One build", out=BuildOut),
    ("GET", f"{A}/releases/"): Op("Releases, newest first", out="page:ReleaseOut", query=PAGE_ARGS),
    ("GET", f"{A}/releases/v<int:version>/"): Op("One release", out=ReleaseOut),
    ("POST", f"{A}/releases/rollback/"): Op("Roll back: a new release from an older one", 201, VersionOut,
                                            schemas.Rollback),
    ("GET", f"{C}/"): Op("Processes as last observed", out="page:ContainerOut", query=PAGE_ARGS),
    ("GET", f"{C}/<process_type>/"): Op("Processes of one type", out="page:ContainerOut", query=PAGE_ARGS),
    ("GET", f"{C}/<process_type>/<int:num>/"): Op("One process", out=ContainerOut),
    ("POST", f"{C}/restart/"): Op("Restart every process", out="list:ContainerOut"),
    ("POST", f"{C}/<process_type>/restart/"): Op("Restart the processes of a type", out="list:ContainerOut"),
    ("POST", f"{C}/<process_type>/<int:num>/restart/"): Op("Restart one process", out="list:ContainerOut"),
    ("GET", f"{A}/domains/"): Op("Custom domains", out="page:DomainOut", query=PAGE_ARGS),
    ("POST", f"{A}/domains/"): Op("Add a custom domain", 201, DomainOut, schemas.DomainCreate),
    ("DELETE", f"{A}/domains/<domain>/"): Op("Remove a custom domain (not collaborators)", 204),
    ("GET", "/v1/certs/"): Op("Your certificates (admins: all)", out="page:CertificateOut", query=PAGE_ARGS),
    ("POST", "/v1/certs/"): Op("Add a certificate", 201, CertificateOut, schemas.CertCreate),
    ("GET", "/v1/certs/<common_name>/"): Op("One certificate", out=CertificateOut),
    ("DELETE", "/v1/certs/<common_name>/"): Op("Remove a certificate", 204),
    ("GET", "/v1/keys/"): Op("Your SSH keys", out="page:KeyOut", query=PAGE_ARGS),
    ("POST", "/v1/keys/"): Op("Add an SSH key", 201, KeyOut, schemas.KeyCreate),
    ("GET", "/v1/keys/<path:name>/"): Op("One SSH key", out=KeyOut),
    ("DELETE", "/v1/keys/<path:name>/"): Op("Remove an SSH key", 204),
    ("POST", "/v1/hooks/push/"): Op("Builder: record a git push", 201, PushOut, schemas.PushHook, "builder"),
    ("POST", "/v1/hooks/config/"): Op("Builder: the app's config", 200, ConfigOut, schemas.ConfigHook, "builder"),
    ("POST", "/v1/hooks/build/"): Op("Builder: record a build and roll it out", 200, BuildHookOut,
                                     schemas.BuildHook, "builder"),
    ("GET", "/v1/hooks/key/<path:fingerprint>/"): Op("Builder: who owns an SSH key", out=KeyLookupOut, auth="builder"),
}

_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")
_PATTERNS = {"app_id": "^[a-z0-9-]+$", "process_type": "^[a-z][a-z0-9_-]*$"}
_SCHEMAS = (UserOut, AppOut, ConfigOut, BuildOut, ReleaseOut, ContainerOut, KeyOut, DomainOut, CertificateOut,
            PushOut, AdminOut)


def documented_rules(app: Flask) -> set[tuple[str, str]]:
    """Every (method, rule) the app serves under ``/v1``."""
    return {(method, rule.rule) for rule in app.url_map.iter_rules() if rule.rule.startswith("/v1")
            for method in rule.methods or () if method not in ("HEAD", "OPTIONS")}


def _path(rule: str) -> tuple[str, list[dict[str, Any]]]:
    params = []
    for converter, name in _PARAM.findall(rule):
        schema: dict[str, Any] = {"type": "integer", "minimum": 0} if converter == "int" else {"type": "string",
                                                                                             "minLength": 1}
        if name in _PATTERNS:
            schema["pattern"] = _PATTERNS[name]
        params.append({"in": "path", "name": name, "required": True, "schema": schema})
    return _PARAM.sub(r"{\2}", rule), params


def _response(op: Op) -> dict[str, Any]:
    if op.status == 204 or op.out is None:
        return {"description": "Done (empty body)"}
    if op.out == "text":
        return {"description": "Text", "content": {"text/plain": {"schema": {"type": "string"}},
                                                   "application/json": {"schema": {"type": "string"}}}}
    if op.out == "object":
        schema: Any = {"type": "object"}
    elif isinstance(op.out, str):
        kind, name = op.out.split(":")
        items = {"$ref": f"#/components/schemas/{name.removesuffix('Out')}"}
        schema = {"type": "array", "items": items} if kind == "list" else {
            "type": "object", "required": ["count", "next", "previous", "results"],
            "properties": {"count": {"type": "integer"}, "next": {"type": "string", "nullable": True},
                           "previous": {"type": "string", "nullable": True},
                           "results": {"type": "array", "items": items}}}
    else:
        schema = op.out
    return {"description": "OK", "content": {"application/json": {"schema": schema}}}


def build_spec(app: Flask) -> dict[str, Any]:
    """The document for the routes ``app`` really serves (undocumented ones are listed bare)."""
    plugin = MarshmallowPlugin(schema_name_resolver=lambda s: (s if isinstance(s, type) else type(s)).__name__)
    spec = APISpec(title="app-layer controller (Deis v1 API)", version=API_VERSION, openapi_version="3.0.3",
                   plugins=[plugin], info={"description": "Deis v1.13-compatible REST API of app-layer."})
    spec.components.security_scheme("token", {"type": "apiKey", "in": "header", "name": "Authorization",
                                              "description": "`token <40 hex>`"})
    spec.components.security_scheme("builder", {"type": "apiKey", "in": "header", "name": "X-Deis-Builder-Auth"})
    for schema in _SCHEMAS:
        spec.components.schema(schema.__name__.removesuffix("Out"), schema=schema)
    paths: dict[str, dict[str, Any]] = {}
    for method, rule in sorted(documented_rules(app), key=lambda mr: (mr[1], mr[0])):
        op = OPERATIONS.get((method, rule), Op("Undocumented"))
        path, params = _path(rule)
        operation: dict[str, Any] = {
            "summary": op.summary, "operationId": f"{method.lower()}{re.sub(r'[^A-Za-z0-9]+', '_', rule)}",
            "parameters": params + op.query,
            "responses": {str(op.status): _response(op), "400": {"description": "Bad input: the field and rule",
                                                                 "content": {"application/json": {"schema": ERROR}}},
                          "401": {"description": "No valid credentials"}},
        }
        if op.auth != "none":
            operation["security"] = [{op.auth: []}]
            operation["responses"]["403"] = {"description": "Not allowed"}
        if op.body is not None:
            content: dict[str, Any] = {"application/json": {"schema": op.body}}
            if op.forms:
                content["application/x-www-form-urlencoded"] = {"schema": op.body}
            operation["requestBody"] = {"required": True, "content": content}
        if "{" in path:
            operation["responses"]["404"] = {"description": "No such object"}
        paths.setdefault(path, {})[method.lower()] = operation
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


@bp.get("/v1/openapi.json/")
def document():  # type: ignore[no-untyped-def]
    spec = current_app.extensions.get("app_layer.openapi")
    if spec is None:
        spec = current_app.extensions["app_layer.openapi"] = build_spec(current_app)
    return spec
