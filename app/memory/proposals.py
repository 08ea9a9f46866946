"""What the model may propose as long-term memories: the Pydantic shape, and a grammar that bounds it.

The model's reply is constrained by a GBNF grammar (llama.cpp's `grammar` field) that fixes every
piece of the JSON: no free whitespace, no escapes, a character limit on every string and a limit on
the number of items and tags. So the longest reply the grammar allows has a known size in bytes, and
`max_tokens` is set to it: a reply can end only where the grammar ends, never cut off mid-string.
"""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from app.memory.longterm import MemoryType

TITLE_CHARS = 48
CONTENT_CHARS = 160
TAG_CHARS = 16
MAX_TAGS = 3


def _trimmed(value: str) -> str:
    value = " ".join(value.split())
    if not value:
        raise ValueError("must not be blank")
    return value


def _tags(values: list[str]) -> list[str]:
    tags = [" ".join(v.replace("|", " ").split()).lower()[:64] for v in values]
    return list(dict.fromkeys(t for t in tags if t))[:5]


class Proposal(BaseModel):
    type: MemoryType
    title: Annotated[str, Field(max_length=TITLE_CHARS), AfterValidator(_trimmed)]
    content: Annotated[str, Field(max_length=CONTENT_CHARS), AfterValidator(_trimmed)]
    tags: Annotated[list[str], Field(max_length=MAX_TAGS), AfterValidator(_tags)] = Field(
        default_factory=list
    )


class Proposals(BaseModel):
    memories: list[Proposal] = Field(max_length=10)


def _literal(text: str) -> str:
    return json.dumps(text)  # a GBNF string literal: JSON's quoting is the same for these texts


def _repeat(rule: str, least: int, most: int) -> str:
    return f"{rule}{{{least},{most}}}"


def grammar(max_items: int) -> str:
    """GBNF for {"memories":[...]} with at most `max_items` bounded proposals."""
    types = " | ".join(_literal(json.dumps(t.value)) for t in MemoryType)
    item = " ".join(
        [
            _literal('{"type":'),
            "type",
            _literal(',"title":"'),
            _repeat("char", 1, TITLE_CHARS),
            _literal('","content":"'),
            _repeat("char", 1, CONTENT_CHARS),
            _literal('","tags":['),
            f'(tag ("," tag){{0,{MAX_TAGS - 1}}})?',
            _literal("]}"),
        ]
    )
    start, end = _literal('{"memories":['), _literal("]}")
    return "\n".join(
        [
            f'root ::= {start} (item ("," item){{0,{max_items - 1}}})? {end}',
            f"item ::= {item}",
            f"type ::= {types}",
            f'tag ::= "\\"" {_repeat("char", 1, TAG_CHARS)} "\\""',
            r'char ::= [^"\\\x00-\x1F\x7F]',
        ]
    )


def longest(max_items: int) -> str:
    """The longest reply `grammar(max_items)` allows, in UTF-8 bytes: four-byte characters throughout
    (every token of a byte-level vocabulary is at least one byte)."""
    wide = "\U0001f41d"
    longest_type = max((t.value for t in MemoryType), key=len)
    item = {
        "type": longest_type,
        "title": wide * TITLE_CHARS,
        "content": wide * CONTENT_CHARS,
        "tags": [wide * TAG_CHARS] * MAX_TAGS,
    }
    return json.dumps({"memories": [item] * max_items}, ensure_ascii=False, separators=(",", ":"))


def max_reply_tokens(max_items: int) -> int:
    """A `max_tokens` that no reply within the grammar can reach before it ends."""
    return len(longest(max_items).encode())
