"""Tenants: each one's Services, built on first use over the shared parts, kept in a bounded LRU.

A tenant's Services holds stores scoped to it (its conversations' collections, its rows of the
keyword index and the catalog, its long-term memories) and caches of its own (the last prompts
sent), so a route that takes its parts from its tenant's Services cannot reach another's data.
The parts every tenant shares (the model, its slots and traffic lane, the embedder, the Chroma
client, the SQLite files, the caps on background work) are built once and passed in.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from cachetools import LRUCache

from app.errors import StoreUnavailable
from app.jobs import Background

if TYPE_CHECKING:
    from app.longterm.book import Memories
    from app.metrics import Metrics
    from app.wiring import Services

log = logging.getLogger("mnemo")
CACHED = 64  # tenants whose Services stay built; the least recently used one is closed past that


class SingleTenant(StoreUnavailable):
    """A service built on given parts serves their tenant only."""

    code = "tenant_unavailable"


class Built(LRUCache[str, "Services"]):
    """The LRU of tenants' Services; one pushed out is handed to `retire`."""

    def __init__(self, maxsize: int, retire: Callable[[Services], None]) -> None:
        super().__init__(maxsize=maxsize)
        self._retire = retire

    def popitem(self) -> tuple[str, Services]:
        tenant, services = super().popitem()
        self._retire(services)
        return tenant, services


class Tenancy:
    """Each tenant's Services: `services(tenant)` (synchronous) builds one on first use with `build`.

    The default tenant's Services is built at once and never pushed out; others live in an LRU of
    `cached` tenants, and one pushed out finishes its background work and is closed (a later
    request builds it again from the stores). `aclose` closes them all.
    """

    def __init__(
        self,
        default: Services,
        build: Callable[[str], Services] | None = None,
        cached: int = CACHED,
    ) -> None:
        self.default = default
        self.metrics: Metrics | None = default.metrics
        self._build = build
        self._built = Built(cached, self._retire)
        self._retiring = Background()
        self._retired: list[Services] = []  # pushed out, finishing their background work

    @property
    def default_tenant(self) -> str:
        return self.default.tenant

    def services(self, tenant: str | None = None) -> Services:
        """The tenant's Services (the default tenant's for None), built on first use."""
        if tenant is None or tenant == self.default.tenant:
            return self.default
        found = self._built.get(tenant)
        if found is None:
            if self._build is None:
                built = self.default.tenant
                raise SingleTenant(
                    f"This Mnemo was built for tenant {built!r} only; it cannot serve {tenant!r}."
                )
            found = self._build(tenant)
            found.metrics = self.metrics
            self._built[tenant] = found
        return found

    def memories_for(self, tenant: str) -> Memories:
        """The tenant's long-term memory book (for the MCP tools); StoreUnavailable when there is none."""
        return self.services(tenant).require_memories()

    def live(self) -> list[Services]:
        """Every Services built now, the default tenant's first."""
        return [self.default, *self._built.values()]

    def count(self, metrics: Metrics | None) -> None:
        """Count every tenant's turns into `metrics`, built now or later."""
        self.metrics = metrics
        for services in self.live():
            services.metrics = metrics

    def _retire(self, services: Services) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # no loop (a synchronous caller): nothing can be running in the background
            return
        self._retired.append(services)
        self._retiring.start(self._close(services), name=f"retire:{services.tenant}")

    async def _close(self, services: Services) -> None:
        await services.drain()
        self._retired.remove(services)
        await services.aclose()

    async def aclose(self) -> None:
        """Close every tenant's Services, those pushed out too (their background work is cancelled)."""
        await self._retiring.aclose()
        for services in [*self.live(), *self._retired]:
            try:
                await services.aclose()
            except Exception as exc:  # one tenant's failure must not keep the others open
                log.warning("closing tenant %s failed: %s", services.tenant, exc)
        for tenant in list(self._built):
            del self._built[tenant]  # not `clear()`: it pops, and would retire them again
        self._retired.clear()
