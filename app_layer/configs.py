"""Config: validation of values, limits and tags, merging a change into the history, summaries.

Pure functions: nothing here touches the database. Rules follow the Deis v1.13 controller.
"""
from __future__ import annotations

import json
import re
from typing import Any

from app_layer.errors import ValidationError

CONFIG_FIELDS = ("values", "memory", "cpu", "tags")
CONFIG_KEY = re.compile(r"^[a-z_][a-z0-9_]*$", re.IGNORECASE)
PROCESS_TYPE = re.compile(r"^[a-z][a-z0-9_-]*$")
MEMORY_LIMIT = re.compile(r"^[0-9]+(MB|KB|GB|[BKMG])$", re.IGNORECASE)
TAG_KEY = re.compile(r"^[A-Za-z]+$")
TAG_VALUE = re.compile(r"^\w+$")
MAX_VALUE_LENGTH = 64 * 1024
MAX_KEYS = 1000


def parse_change(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Validate a config POST body; each field may be an object or a JSON-encoded string of one.

    Returns ``{field: {key: value-or-None}}`` with values coerced as Deis did (strings, CPU ints).
    """
    errors: dict[str, list[str]] = {}
    change: dict[str, dict[str, Any]] = {}
    for name in CONFIG_FIELDS:
        if name not in body or body[name] is None:
            continue
        raw = body[name]
        if isinstance(raw, str):
            try:
                raw = json.loads(raw) if raw.strip() else {}
            except ValueError:
                errors[name] = ["Must be a JSON object or a JSON-encoded string of one."]
                continue
        if not isinstance(raw, dict):
            errors[name] = ["Must be a JSON object or a JSON-encoded string of one."]
            continue
        if len(raw) > MAX_KEYS:
            errors[name] = [f"At most {MAX_KEYS} keys may be set at once."]
            continue
        try:
            change[name] = _VALIDATORS[name](raw)
        except ValidationError as exc:
            errors[name] = exc.fields["detail"]
    if errors:
        raise ValidationError(errors)
    return change


def _scalar(value: Any, rule: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValidationError(f"{rule} must be a string or a number, or null to unset.")
    return str(value)


def _values(raw: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if not CONFIG_KEY.match(key) or len(key) > 256:
            raise ValidationError(
                "Config keys must start with a letter or underscore and only contain [A-z0-9_]"
            )
        if value is None:
            out[key] = None
            continue
        text = _scalar(value, f"The value of {key}")
        if len(text) > MAX_VALUE_LENGTH or "\x00" in text:
            raise ValidationError(f"The value of {key} must be at most {MAX_VALUE_LENGTH} characters, without NUL.")
        out[key] = text
    return out


def _process_type(key: str) -> None:
    if not PROCESS_TYPE.match(key) or len(key) > 63:
        raise ValidationError("Process types must match ^[a-z][a-z0-9_-]*$ (at most 63 characters)")


def _memory(raw: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        _process_type(key)
        if value is None:
            out[key] = None
            continue
        text = _scalar(value, f"The memory limit of {key}")
        if not MEMORY_LIMIT.match(text):
            raise ValidationError("Limit format: <number><unit>, where unit = B, K, M or G")
        out[key] = text
    return out


def _cpu(raw: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        _process_type(key)
        if value is None:
            out[key] = None
            continue
        try:
            shares = int(_scalar(value, f"The CPU shares of {key}"))
        except ValueError:
            raise ValidationError("CPU shares must be an integer") from None
        if not 0 <= shares <= 1024:
            raise ValidationError("CPU shares must be between 0 and 1024")
        out[key] = shares
    return out


def _tags(raw: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if not TAG_KEY.match(key) or len(key) > 63:
            raise ValidationError("Tag keys can only contain [a-z]")
        if value is None:
            out[key] = None
            continue
        text = _scalar(value, f"The tag {key}")
        if not TAG_VALUE.match(text) or len(text) > 255:
            raise ValidationError("Tag values can only contain [a-zA-Z0-9_]")
        out[key] = text
    return out


_VALIDATORS = {"values": _values, "memory": _memory, "cpu": _cpu, "tags": _tags}


def merge(previous: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """The previous dict updated with ``change``; keys set to ``None`` are removed."""
    merged = dict(previous)
    merged.update(change)
    return {k: v for k, v in merged.items() if v is not None}


def diff_words(new: dict[str, Any], old: dict[str, Any], noun: str = "") -> str:
    """Deis's succinct diff: ``added A, B, changed C, deleted D`` (``noun`` as in ``added tag X``)."""
    prefix = f"{noun} " if noun else ""
    added = [k for k in new if k not in old]
    changed = [k for k in new if k in old and new[k] != old[k]]
    deleted = [k for k in old if k not in new]
    parts = [f"{verb} {prefix}{', '.join(keys)}" for verb, keys in
             (("added", added), ("changed", changed), ("deleted", deleted)) if keys]
    return ", ".join(parts)


def summarize(user: str, new: dict[str, dict[str, Any]], old: dict[str, dict[str, Any]]) -> str:
    """The release summary of a config change, as Deis wrote it (empty when nothing changed)."""
    parts = []
    values = diff_words(new["values"], old["values"])
    if values:
        parts.append(f"{user} {values}")
    limits = [name for name in ("memory", "cpu") if new[name] != old[name]]
    if limits:
        parts.append(f"{user} changed limits for {', '.join(limits)}")
    tags = diff_words(new["tags"], old["tags"], "tag")
    if tags:
        parts.append(f"{user} {tags}")
    return " and ".join(parts)
