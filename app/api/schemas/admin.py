"""Request and response bodies of /admin: tenants and their API keys (never a stored hash)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool

from app.fields import NAME_PATTERN, NAME_RULE, check_tenant
from app.tenants.registry import IssuedKey, KeyRecord, Tenant

TenantName = Annotated[
    str,
    Field(description=f"The tenant's name: {NAME_RULE}", pattern=NAME_PATTERN, max_length=128),
    AfterValidator(check_tenant),
]
KEY_EXAMPLE = "mnemo_3f9a0c12ab4e_Xq8W2bKJ0s9lPz4dYt6uRmN1vHcE7gAoFi5wQjLkTy3"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TenantCreate(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "ada"}, {"name": "team.billing"}]})
    name: TenantName


class KeyCreate(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [{"revoke_others": True}, {}]})
    revoke_others: StrictBool = Field(False, description="Revoke the tenant's other keys at once (rotation)")


class IssuedKeyOut(BaseModel):
    """A key just made; `api_key` is shown this once and never again."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "tenant": "ada",
                    "key_id": "3f9a0c12ab4e",
                    "api_key": KEY_EXAMPLE,
                    "created_at": "2026-12-02T12:00:00Z",
                }
            ]
        }
    )
    tenant: str
    key_id: str
    api_key: str = Field(description="Send as 'Authorization: Bearer <api_key>'; shown only this once")
    created_at: datetime

    @classmethod
    def of(cls, issued: IssuedKey) -> IssuedKeyOut:
        return cls(
            tenant=issued.tenant, key_id=issued.key_id, api_key=issued.api_key, created_at=issued.created_at
        )


class KeyOut(BaseModel):
    key_id: str
    created_at: datetime
    revoked_at: datetime | None = None

    @classmethod
    def of(cls, key: KeyRecord) -> KeyOut:
        return cls(key_id=key.key_id, created_at=key.created_at, revoked_at=key.revoked_at)


class RevokedKeyOut(KeyOut):
    tenant: str


class TenantOut(BaseModel):
    name: str
    created_at: datetime
    revoked_at: datetime | None = Field(None, description="Set once revoked: its keys no longer work")
    keys: list[KeyOut]

    @classmethod
    def of(cls, tenant: Tenant) -> TenantOut:
        return cls(
            name=tenant.name,
            created_at=tenant.created_at,
            revoked_at=tenant.revoked_at,
            keys=[KeyOut.of(k) for k in tenant.keys],
        )


class TenantsOut(BaseModel):
    tenants: list[TenantOut]
