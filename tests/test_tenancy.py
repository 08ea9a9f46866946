"""Tenancy: each tenant's Services built once on shared parts, the least recently used closed past the cap."""

from __future__ import annotations

import asyncio

import pytest

from app.errors import StoreUnavailable
from app.settings import Settings
from app.tenancy import Tenancy
from app.wiring import Services, TenantParts


def test_each_tenant_gets_its_own_services_on_the_shared_parts(tenant_parts: TenantParts) -> None:
    tenancy = tenant_parts.tenancy()
    ada, bob = tenancy.services("ada"), tenancy.services("bob")
    assert tenancy.services("ada") is ada and ada is not bob
    assert tenancy.services() is tenancy.services(tenant_parts.settings.tenant) is tenancy.default
    assert (ada.tenant, bob.tenant, ada.catalog.tenant) == ("ada", "bob", "ada")
    assert ada.sent is not bob.sent and ada.history is not bob.history
    # Shared: the model's lane and slots, and the caps on background work, all tenants together.
    assert ada.traffic is bob.traffic and ada.counter is bob.counter
    assert ada.scheduler.backlog is bob.scheduler.backlog
    assert ada.long_term is not None and bob.long_term is not None
    assert ada.long_term.backlog is bob.long_term.backlog
    assert tenancy.memories_for("ada") is ada.memories is not bob.memories


async def test_past_the_cap_the_least_recently_used_tenant_is_closed(tenant_parts: TenantParts) -> None:
    tenant_parts.settings = replace_settings(tenant_parts.settings, tenants_cached=2)
    tenancy = tenant_parts.tenancy()
    closed: list[str] = []

    def watch(services: Services) -> Services:
        original = services.aclose

        async def aclose() -> None:
            closed.append(services.tenant)
            await original()

        services.aclose = aclose  # type: ignore[method-assign]
        return services

    a, b = watch(tenancy.services("a")), watch(tenancy.services("b"))
    tenancy.services("a")  # b is now the least recently used
    watch(tenancy.services("c"))
    await asyncio.sleep(0.05)
    assert closed == ["b"]
    assert tenancy.services("a") is a
    again = tenancy.services("b")  # built again on its next use
    assert again is not b
    # b is still held (here, as by a turn in flight): the new services share its history, its
    # conversation locks and next turn indices with it.
    assert again.history is b.history and again.scheduler is not b.scheduler
    await tenancy.aclose()
    assert sorted(closed) == ["a", "b", "c"]


def replace_settings(settings: Settings, **changes: object) -> Settings:
    return Settings.model_validate({**settings.model_dump(), **changes})


async def test_a_tenancy_of_given_services_serves_their_tenant_only(services: Services) -> None:
    tenancy = Tenancy(services)
    assert tenancy.services() is services
    with pytest.raises(StoreUnavailable, match="built for tenant 'default' only"):
        tenancy.services("someone-else")
