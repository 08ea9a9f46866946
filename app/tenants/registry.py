"""Tenants and their API keys in one SQLite file of the data folder (hashes only, never a clear key)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from app.errors import InvalidInput, MnemoError, NotFound
from app.fields import check_tenant, utcnow
from app.storage.fts import connect, transaction
from app.storage.threads import in_thread
from app.tenants.keys import NewKey, key_id_of, matches, new_key

T = TypeVar("T")
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS tenants (name TEXT PRIMARY KEY, created_at TEXT NOT NULL, revoked_at TEXT)",
    "CREATE TABLE IF NOT EXISTS api_keys (key_id TEXT PRIMARY KEY, "
    "tenant TEXT NOT NULL REFERENCES tenants(name), key_hash TEXT NOT NULL, "
    "created_at TEXT NOT NULL, revoked_at TEXT)",
    "CREATE INDEX IF NOT EXISTS api_keys_by_tenant ON api_keys (tenant)",
)


class TenantExists(MnemoError):
    status_code = 409
    code = "tenant_exists"


class TenantRevoked(MnemoError):
    status_code = 409
    code = "tenant_revoked"


@dataclass(frozen=True)
class KeyRecord:
    """What is kept of a key: its id and its times (the hash never leaves the registry)."""

    key_id: str
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class Tenant:
    name: str
    created_at: datetime
    revoked_at: datetime | None = None
    keys: tuple[KeyRecord, ...] = ()


@dataclass(frozen=True)
class IssuedKey:
    """A key just made: `api_key` is its only clear copy."""

    tenant: str
    key_id: str
    api_key: str
    created_at: datetime


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


class Registry:
    """The tenants and their keys; the file is opened on first use (and again after `close`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = connect(self.path)
            for statement in SCHEMA:
                self._db.execute(statement)
        return self._db

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await in_thread(lambda: fn(self._conn()), "the tenant registry", self._lock, (sqlite3.Error,))

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def write(db: sqlite3.Connection) -> T:
            with transaction(db):
                return fn(db)

        return await self._run(write)

    async def create(self, name: str) -> IssuedKey:
        """A new tenant and its first key; TenantExists if the name is taken (revoked names stay taken)."""
        try:
            check_tenant(name)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from exc

        def create(db: sqlite3.Connection) -> IssuedKey:
            if db.execute("SELECT 1 FROM tenants WHERE name = ?", (name,)).fetchone():
                raise TenantExists(f"A tenant named {name!r} exists already.")
            now = utcnow()
            db.execute("INSERT INTO tenants VALUES (?, ?, NULL)", (name, now.isoformat()))
            return _insert_key(db, name, new_key(), now)

        return await self._write(create)

    async def issue(self, name: str, revoke_others: bool = False) -> IssuedKey:
        """Another key for a tenant; with `revoke_others` its earlier keys stop working at once."""

        def issue(db: sqlite3.Connection) -> IssuedKey:
            _require_active(db, name)
            now = utcnow()
            if revoke_others:
                db.execute(
                    "UPDATE api_keys SET revoked_at = ? WHERE tenant = ? AND revoked_at IS NULL",
                    (now.isoformat(), name),
                )
            return _insert_key(db, name, new_key(), now)

        return await self._write(issue)

    async def revoke_key(self, name: str, key_id: str) -> KeyRecord:
        """Revoke one key (again is no error: the first time is kept)."""

        def revoke(db: sqlite3.Connection) -> KeyRecord:
            _require(db, name)
            sql = "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND tenant = ? AND revoked_at IS NULL"
            db.execute(sql, (utcnow().isoformat(), key_id, name))
            row = db.execute(
                "SELECT key_id, created_at, revoked_at FROM api_keys WHERE key_id = ? AND tenant = ?",
                (key_id, name),
            ).fetchone()
            if row is None:
                raise NotFound(f"Tenant {name!r} has no key {key_id!r}.")
            return _key(row)

        return await self._write(revoke)

    async def revoke(self, name: str) -> Tenant:
        """Revoke a tenant and every key of it; its data is kept, and its name stays taken."""

        def revoke(db: sqlite3.Connection) -> Tenant:
            _require(db, name)
            now = utcnow().isoformat()
            db.execute("UPDATE tenants SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL", (now, name))
            db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE tenant = ? AND revoked_at IS NULL", (now, name)
            )
            return _tenants(db, name)[0]

        return await self._write(revoke)

    async def tenants(self) -> list[Tenant]:
        """Every tenant with its keys, by name."""
        return await self._run(lambda db: _tenants(db))

    async def resolve(self, key: str) -> str | None:
        """The tenant a key acts for; None for a key unknown, malformed or revoked (or its tenant's)."""
        key_id = key_id_of(key)
        if key_id is None:
            return None
        sql = (
            "SELECT k.tenant, k.key_hash FROM api_keys AS k JOIN tenants AS t ON t.name = k.tenant "
            "WHERE k.key_id = ? AND k.revoked_at IS NULL AND t.revoked_at IS NULL"
        )
        row = await self._run(lambda db: db.execute(sql, (key_id,)).fetchone())
        if row is None or not matches(key, row[1]):
            return None
        return str(row[0])

    def has_tenants(self) -> bool:
        """Whether the file exists with a tenant in it (never creates the file)."""
        if not self.path.exists():
            return False
        with self._lock:
            return self._conn().execute("SELECT 1 FROM tenants LIMIT 1").fetchone() is not None

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


def _insert_key(db: sqlite3.Connection, tenant: str, key: NewKey, now: datetime) -> IssuedKey:
    db.execute(
        "INSERT INTO api_keys VALUES (?, ?, ?, ?, NULL)", (key.key_id, tenant, key.digest, now.isoformat())
    )
    return IssuedKey(tenant, key.key_id, key.key, now)


def _require(db: sqlite3.Connection, name: str) -> str | None:
    """The tenant's revocation time (None while active); NotFound for a name no tenant has."""
    row = db.execute("SELECT revoked_at FROM tenants WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise NotFound(f"No tenant is named {name!r}.")
    return None if row[0] is None else str(row[0])


def _require_active(db: sqlite3.Connection, name: str) -> None:
    if _require(db, name) is not None:
        raise TenantRevoked(f"Tenant {name!r} is revoked; its keys cannot be renewed.")


def _key(row: tuple[str, str, str | None]) -> KeyRecord:
    return KeyRecord(row[0], datetime.fromisoformat(row[1]), _time(row[2]))


def _tenants(db: sqlite3.Connection, name: str | None = None) -> list[Tenant]:
    where, args = ("WHERE name = ?", (name,)) if name is not None else ("", ())
    rows = db.execute(f"SELECT name, created_at, revoked_at FROM tenants {where} ORDER BY name", args)
    found = []
    for tenant, created, revoked in rows.fetchall():
        keys = db.execute(
            "SELECT key_id, created_at, revoked_at FROM api_keys WHERE tenant = ? "
            "ORDER BY created_at, key_id",
            (tenant,),
        ).fetchall()
        found.append(Tenant(tenant, datetime.fromisoformat(created), _time(revoked), tuple(map(_key, keys))))
    return found
