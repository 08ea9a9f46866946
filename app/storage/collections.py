"""Many Chroma collections opened by name as they are needed, their handles kept in a bounded LRU."""

from __future__ import annotations

import threading
from typing import Any

from cachetools import LRUCache

from app.storage.chroma import Metadata, find_collection, open_collection

HANDLES = 1024  # a handle is a small object; Chroma keeps the indexes themselves in its own cache


class Collections:
    """Opens, finds and drops collections; safe to call from several worker threads."""

    def __init__(self, client: Any, metadata: Metadata | None = None, handles: int = HANDLES) -> None:
        self._client = client
        self._metadata = dict(metadata or {})
        self._handles: LRUCache[str, Any] = LRUCache(maxsize=handles)
        self._lock = threading.Lock()

    def find(self, name: str) -> Any | None:
        """The named collection, or None when there is none; never creates one."""
        with self._lock:
            handle = self._handles.get(name)
        if handle is None:
            handle = find_collection(self._client, name)
            if handle is not None:
                self._keep(name, handle)
        return handle

    def open(self, name: str) -> Any:
        """The named collection, created with this set's metadata if there is none."""
        handle = self.find(name)
        if handle is None:
            handle = open_collection(self._client, name, self._metadata)
            self._keep(name, handle)
        return handle

    def drop(self, name: str) -> int:
        """Delete the named collection; how many records it held (0 when there was none)."""
        handle = self.find(name)
        with self._lock:
            self._handles.pop(name, None)
        if handle is None:
            return 0
        held = int(handle.count())
        self._client.delete_collection(name)
        return held

    def _keep(self, name: str, handle: Any) -> None:
        with self._lock:
            self._handles[name] = handle
