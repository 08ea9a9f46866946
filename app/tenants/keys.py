"""API keys: made from 32 random bytes, shown once, kept only as a SHA-256 hash.

A key reads `mnemo_<key id>_<secret>`: the id finds its row, the hash of the whole key is compared
in constant time. The secret is 256 random bits, so a fast hash is right (no password stretching).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

PREFIX = "mnemo_"
KEY = re.compile(r"mnemo_([0-9a-f]{12})_[A-Za-z0-9_-]{43}")
KEY_ID = re.compile(r"[0-9a-f]{12}")


@dataclass(frozen=True)
class NewKey:
    """A key as issued: the clear key exists only here, on its way to the one who asked."""

    key_id: str
    key: str

    @property
    def digest(self) -> str:
        return digest(self.key)


def new_key() -> NewKey:
    key_id = secrets.token_hex(6)
    return NewKey(key_id, f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}")


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_id_of(key: str) -> str | None:
    """The id a key names, or None when it is not shaped as Mnemo's keys are."""
    found = KEY.fullmatch(key)
    return found.group(1) if found else None


def matches(key: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(key), stored_digest)
