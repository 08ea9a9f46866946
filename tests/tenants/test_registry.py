"""The registry: tenants and keys in SQLite, hashes only, revocation and rotation at once."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.errors import InvalidInput, NotFound
from app.tenants.keys import digest, key_id_of
from app.tenants.registry import Registry, TenantExists, TenantRevoked


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    found = Registry(tmp_path / "tenants.sqlite3")
    yield found
    found.close()


def dump(path: Path) -> str:
    """Every value of every row of the file, as text."""
    db = sqlite3.connect(path)
    try:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return "\n".join(repr(row) for table in tables for row in db.execute(f"SELECT * FROM {table}"))
    finally:
        db.close()


async def test_a_key_acts_for_its_tenant_and_is_kept_only_as_a_hash(registry: Registry) -> None:
    issued = await registry.create("ada")
    assert issued.tenant == "ada" and issued.api_key.startswith("mnemo_")
    assert key_id_of(issued.api_key) == issued.key_id
    assert await registry.resolve(issued.api_key) == "ada"
    stored = dump(registry.path)
    assert issued.api_key not in stored
    assert issued.api_key.split("_", 2)[2] not in stored  # not even the secret part
    assert digest(issued.api_key) in stored


async def test_unknown_malformed_and_forged_keys_resolve_to_no_one(registry: Registry) -> None:
    issued = await registry.create("ada")
    forged = issued.api_key[:-1] + ("A" if issued.api_key[-1] != "A" else "B")  # right id, wrong secret
    for key in ["", "nope", "mnemo_", forged, issued.api_key + "x", "Bearer " + issued.api_key]:
        assert await registry.resolve(key) is None, key


async def test_names_follow_the_id_rule_and_are_taken_once(registry: Registry) -> None:
    await registry.create("team.billing")
    with pytest.raises(TenantExists):
        await registry.create("team.billing")
    for bad in ["", "a b", "a/b", "x" * 129, "ümlaut"]:
        with pytest.raises(InvalidInput):
            await registry.create(bad)


async def test_a_revoked_key_stops_at_once_and_the_others_go_on(registry: Registry) -> None:
    first = await registry.create("ada")
    second = await registry.issue("ada")
    revoked = await registry.revoke_key("ada", first.key_id)
    assert revoked.revoked_at is not None
    assert await registry.resolve(first.api_key) is None
    assert await registry.resolve(second.api_key) == "ada"
    again = await registry.revoke_key("ada", first.key_id)
    assert again.revoked_at == revoked.revoked_at  # the first revocation is kept
    with pytest.raises(NotFound):
        await registry.revoke_key("ada", "000000000000")
    other = await registry.create("bob")
    with pytest.raises(NotFound):  # a key id of another tenant is no key of this one
        await registry.revoke_key("ada", other.key_id)
    assert await registry.resolve(other.api_key) == "bob"


async def test_rotation_revokes_every_other_key(registry: Registry) -> None:
    old = [await registry.create("ada"), await registry.issue("ada")]
    new = await registry.issue("ada", revoke_others=True)
    assert [await registry.resolve(k.api_key) for k in old] == [None, None]
    assert await registry.resolve(new.api_key) == "ada"


async def test_a_revoked_tenant_loses_every_key_keeps_its_name_and_gets_no_new_key(
    registry: Registry,
) -> None:
    keys = [await registry.create("ada"), await registry.issue("ada")]
    bob = await registry.create("bob")
    tenant = await registry.revoke("ada")
    assert tenant.revoked_at is not None and all(k.revoked_at for k in tenant.keys)
    assert [await registry.resolve(k.api_key) for k in keys] == [None, None]
    assert await registry.resolve(bob.api_key) == "bob"
    with pytest.raises(TenantRevoked):
        await registry.issue("ada")
    with pytest.raises(TenantExists):
        await registry.create("ada")
    with pytest.raises(NotFound):
        await registry.revoke("carol")


async def test_the_list_shows_tenants_and_key_ids_never_keys(registry: Registry) -> None:
    ada = await registry.create("ada")
    await registry.create("bob")
    await registry.revoke_key("ada", ada.key_id)
    tenants = await registry.tenants()
    assert [t.name for t in tenants] == ["ada", "bob"]
    assert [k.key_id for k in tenants[0].keys] == [ada.key_id]
    assert tenants[0].keys[0].revoked_at is not None and tenants[1].revoked_at is None
    assert ada.api_key not in repr(tenants)


async def test_the_file_survives_a_reopen_and_has_tenants_never_creates_it(tmp_path: Path) -> None:
    path = tmp_path / "tenants.sqlite3"
    first = Registry(path)
    assert not first.has_tenants() and not path.exists()
    issued = await first.create("ada")
    first.close()
    again = Registry(path)
    try:
        assert again.has_tenants()
        assert await again.resolve(issued.api_key) == "ada"
    finally:
        again.close()
