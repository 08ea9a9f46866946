"""Time named in a query (pure): "last May", "in June 2023", "two weeks ago", "yesterday" -> a date range."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

MONTHS = {name.lower(): n for n, name in enumerate(calendar.month_name) if name}
MONTHS |= {name.lower(): n for n, name in enumerate(calendar.month_abbr) if name}
NUMBERS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "couple of": 2, "few": 3,
}  # fmt: skip
UNIT_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}

MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
NUMBER = r"\d+|" + "|".join(sorted(NUMBERS, key=len, reverse=True))
RE_MONTH_YEAR = re.compile(rf"\b(?:in\s+)?({MONTH})\.?\s+(\d{{4}})\b", re.I)
RE_LAST_MONTH_NAME = re.compile(rf"\blast\s+({MONTH})\b", re.I)
RE_AGO = re.compile(rf"\b({NUMBER})\s+(day|week|month|year)s?\s+ago\b", re.I)
RE_LAST_UNIT = re.compile(r"\b(?:last|past|previous)\s+(week|month|year)\b", re.I)
RE_YESTERDAY = re.compile(r"\byesterday\b", re.I)
RE_YEAR = re.compile(r"\bin\s+(\d{4})\b", re.I)


@dataclass(frozen=True)
class Span:
    """A half-open range of time [start, end)."""

    start: datetime
    end: datetime


def _month(year: int, month: int) -> Span:
    start = datetime(year, month, 1)
    end = datetime(year + (month == 12), month % 12 + 1, 1)
    return Span(start, end)


def _around(moment: datetime, days: int) -> Span:
    """The unit of time around a moment `days` long, with slack of half a unit each side."""
    half = timedelta(days=max(days / 2, 1))
    return Span(moment - half, moment + half)


def time_span(query: str, now: datetime) -> Span | None:
    """The period a query refers to, relative to `now` (naive, in the conversation's time), or None."""
    now = now.replace(tzinfo=None)
    if match := RE_MONTH_YEAR.search(query):
        return _month(int(match[2]), MONTHS[match[1].lower()])
    if match := RE_LAST_MONTH_NAME.search(query):
        month = MONTHS[match[1].lower()]
        return _month(now.year if month < now.month else now.year - 1, month)
    if match := RE_AGO.search(query):
        amount = match[1].lower()
        count = int(amount) if amount.isdigit() else NUMBERS[amount]
        days = UNIT_DAYS[match[2].lower()]
        return _around(now - timedelta(days=count * days), days)
    if match := RE_LAST_UNIT.search(query):
        days = UNIT_DAYS[match[1].lower()]
        return _around(now - timedelta(days=days), days)
    if RE_YESTERDAY.search(query):
        start = (now - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        return Span(start, start + timedelta(days=1))
    if match := RE_YEAR.search(query):
        return Span(datetime(int(match[1]), 1, 1), datetime(int(match[1]) + 1, 1, 1))
    return None
