"""/admin: tenants and their API keys; served only when MNEMO_ADMIN_KEY is set, and only with that key.

The key check is TenantAuth's (app/api/auth.py), before any route runs; these routes manage the registry.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status

from app.api.schemas.admin import (
    IssuedKeyOut,
    KeyCreate,
    RevokedKeyOut,
    TenantCreate,
    TenantOut,
    TenantsOut,
)
from app.api.schemas.conversations import error_responses
from app.tenants.registry import Registry


def get_registry(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


RegistryDep = Annotated[Registry, Depends(get_registry)]

router = APIRouter(prefix="/admin", tags=["admin"])


@router.post(
    "/tenants",
    response_model=IssuedKeyOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create a tenant",
    description=(
        "A tenant and its first API key. The key is in this answer only: Mnemo keeps its hash. "
        "409 when the name is taken (a revoked tenant's name stays taken: its data is kept)."
    ),
    responses=error_responses(409, 422, 503),
)
async def create_tenant(body: TenantCreate, registry: RegistryDep) -> IssuedKeyOut:
    return IssuedKeyOut.of(await registry.create(body.name))


@router.get(
    "/tenants",
    response_model=TenantsOut,
    summary="List tenants",
    description="Every tenant with its keys' ids and times, revoked ones too; never a key or its hash.",
    responses=error_responses(503),
)
async def list_tenants(registry: RegistryDep) -> TenantsOut:
    return TenantsOut(tenants=[TenantOut.of(t) for t in await registry.tenants()])


@router.post(
    "/tenants/{name}/keys",
    response_model=IssuedKeyOut,
    status_code=status.HTTP_201_CREATED,
    summary="Issue a key",
    description=(
        "Another API key for the tenant, shown this once. With `revoke_others: true` (rotation) its "
        "other keys stop working at once. 409 for a revoked tenant."
    ),
    responses=error_responses(404, 409, 422, 503),
)
async def issue_key(name: str, registry: RegistryDep, body: KeyCreate | None = None) -> IssuedKeyOut:
    revoke_others = body.revoke_others if body is not None else False
    return IssuedKeyOut.of(await registry.issue(name, revoke_others=revoke_others))


@router.delete(
    "/tenants/{name}/keys/{key_id}",
    response_model=RevokedKeyOut,
    summary="Revoke a key",
    description="The key answers 401 from the next request on. Revoking it again changes nothing.",
    responses=error_responses(404, 503),
)
async def revoke_key(name: str, key_id: str, registry: RegistryDep) -> RevokedKeyOut:
    key = await registry.revoke_key(name, key_id)
    return RevokedKeyOut(tenant=name, key_id=key.key_id, created_at=key.created_at, revoked_at=key.revoked_at)


@router.delete(
    "/tenants/{name}",
    response_model=TenantOut,
    summary="Revoke a tenant",
    description=(
        "Revokes the tenant and all its keys at once. Its conversations and memories are kept (nothing "
        "is deleted), and its name stays taken."
    ),
    responses=error_responses(404, 503),
)
async def revoke_tenant(name: str, registry: RegistryDep) -> TenantOut:
    return TenantOut.of(await registry.revoke(name))
