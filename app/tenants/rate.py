"""Requests per minute per tenant: a token bucket each, refilled continuously."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Bucket:
    tokens: float
    at: float


class RequestRate:
    """Up to `per_minute` requests in a burst, then one every 60/per_minute seconds; 0 is no limit."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._buckets: dict[str, Bucket] = {}
        self._lock = threading.Lock()

    def take(self, tenant: str) -> int:
        """0 when the tenant may make a request now (and it is counted), else whole seconds to wait."""
        if self.per_minute <= 0:
            return 0
        now = self._clock()
        with self._lock:
            bucket = self._buckets.setdefault(tenant, Bucket(float(self.per_minute), now))
            refill = (now - bucket.at) * self.per_minute / 60.0
            bucket.tokens = min(float(self.per_minute), bucket.tokens + refill)
            bucket.at = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0
            return max(1, math.ceil((1.0 - bucket.tokens) * 60.0 / self.per_minute))
