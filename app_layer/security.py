"""Passwords (Argon2id) and API tokens (40 hex characters, stored as SHA-256 digests)."""
from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    """A new API token in the Deis format (40 lowercase hex characters)."""
    return secrets.token_hex(20)


def token_digest(token: str) -> str:
    """Tokens are random and long, so one fast hash suffices: a leaked table reveals nothing usable."""
    return hashlib.sha256(token.encode()).hexdigest()


def same_secret(given: str, expected: str) -> bool:
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())
