"""SlotChooser: which llama.cpp slot a turn runs on, so no slot idles while a turn waits for another."""

from __future__ import annotations

import zlib
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Protocol

import anyio

from app.llm.protocols import ServerProbe

REMEMBERED = 10_000  # conversations whose last slot is kept; a forgotten one starts again from its hash
DEFAULT_TENANT = "default"


class Slots(Protocol):
    """Where a turn of one tenant's conversation runs; `release` the slot `acquire` gave."""

    async def acquire(self, conversation_id: str) -> int | None: ...
    def release(self, slot: int) -> None: ...


@dataclass(eq=False)
class _Waiter:
    """A turn waiting for a slot; a releasing turn hands its slot over here."""

    event: anyio.Event = field(default_factory=anyio.Event)
    slot: int | None = None


class SlotChooser:
    """Places Mnemo's turns on llama.cpp's slots, one turn per slot.

    A conversation goes back to the slot it last ran on (its cached prompt prefix is there),
    or to its hash's slot the first time; if that slot is busy with another of Mnemo's turns it
    takes a free one (the least recently used), as llama.cpp would defer a turn sent to a busy
    slot while another idles. With every slot busy turns wait here, first come first served,
    and each freed slot goes straight to the next one.
    """

    def __init__(self, probe: ServerProbe, remember: int = REMEMBERED) -> None:
        self._probe = probe
        self._remember = remember
        self._busy: set[int] = set()
        self._last: OrderedDict[tuple[str, str], int] = OrderedDict()  # (tenant, conversation) -> slot
        self._freed: dict[int, int] = {}  # slot -> when it was last released
        self._releases = 0
        self._waiters: deque[_Waiter] = deque()

    def scoped(self, tenant: str) -> TenantSlots:
        """The slots as one tenant's turns take them: its conversations pinned apart from others'."""
        return TenantSlots(self, tenant)

    async def acquire(self, conversation_id: str, tenant: str = DEFAULT_TENANT) -> int | None:
        """A slot for this conversation's next turn, waiting while all are busy; `release` it after.

        None for a server without llama.cpp's /props (it schedules requests itself): nothing held.
        """
        info = await self._probe.info()
        if info.n_ctx == 0:
            return None
        key = (tenant, conversation_id)
        slot = self._free(key, max(info.total_slots, 1))
        if slot is None:
            slot = await self._wait()
        self._busy.add(slot)
        self._last[key] = slot
        self._last.move_to_end(key)
        while len(self._last) > self._remember:
            self._last.popitem(last=False)
        return slot

    def release(self, slot: int) -> None:
        """The turn on `slot` is done with llama.cpp: the next waiting turn gets the slot."""
        self._releases += 1
        self._freed[slot] = self._releases
        if self._waiters:
            waiter = self._waiters.popleft()
            waiter.slot = slot  # stays busy: handed over
            waiter.event.set()
        else:
            self._busy.discard(slot)

    @property
    def waiting(self) -> int:
        """Turns waiting for a slot."""
        return len(self._waiters)

    def _free(self, key: tuple[str, str], slots: int) -> int | None:
        free = [slot for slot in range(slots) if slot not in self._busy]
        if not free or self._waiters:
            return None
        home = self._last.get(key, zlib.crc32(key[1].encode()) % slots)
        if home in free:
            return home
        return min(free, key=lambda slot: self._freed.get(slot, 0))

    async def _wait(self) -> int:
        waiter = _Waiter()
        self._waiters.append(waiter)
        try:
            await waiter.event.wait()
        except BaseException:
            if waiter.slot is None:
                self._waiters.remove(waiter)
            else:
                self.release(waiter.slot)  # handed over as we were cancelled: pass it on
            raise
        assert waiter.slot is not None
        return waiter.slot


class TenantSlots:
    """One tenant's view of the SlotChooser shared by all: pins by (tenant, conversation)."""

    def __init__(self, chooser: SlotChooser, tenant: str) -> None:
        self._chooser = chooser
        self.tenant = tenant

    async def acquire(self, conversation_id: str) -> int | None:
        return await self._chooser.acquire(conversation_id, self.tenant)

    def release(self, slot: int) -> None:
        self._chooser.release(slot)

    @property
    def waiting(self) -> int:
        return self._chooser.waiting
