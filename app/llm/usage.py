"""Token counts of one completion, as llama.cpp reports them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Usage:
    """Token counts as llama.cpp reports them for one completion."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    evaluated_tokens: int = 0
