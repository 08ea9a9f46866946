"""What the model may propose as long-term memories: the Pydantic shape, and a grammar that bounds it.

The model's reply is constrained by a GBNF grammar (llama.cpp's `grammar` field) that fixes every
piece of the JSON: bounded whitespace, no escapes, a character limit on every string and a limit on
the number of items and tags. So the longest reply the grammar allows has a known size in bytes, and
`max_tokens` is set to it: a reply can end only where the grammar ends, never cut off mid-string.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from app.longterm.models import MemoryType

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


WIDE = "\U0001f41d"  # four bytes in UTF-8: the widest character a string may hold
WS_SPACES = 16

# The reply's shape as a sequence, rendered both as GBNF and as the longest text it allows.
# A str is a literal; WS is optional whitespace (small models write their JSON indented);
# Str(n) is a string of 1 to n characters, the first not blank (so no proposal is blank);
# Ref names a rule; Many(rule, n) is 0 to n of a rule, comma-separated.
WS = object()


@dataclass(frozen=True)
class Str:
    most: int


@dataclass(frozen=True)
class Ref:
    rule: str


@dataclass(frozen=True)
class Many:
    rule: str
    most: int


Piece = str | object


def _field(name: str, value: Piece) -> list[Piece]:
    return [WS, f'"{name}":', WS, value, WS]


ITEM: list[Piece] = [
    "{",
    *_field("type", Ref("type")),
    ",",
    *_field("title", Str(TITLE_CHARS)),
    ",",
    *_field("content", Str(CONTENT_CHARS)),
    ",",
    *_field("tags", ["[", WS, Many("tag", MAX_TAGS), WS, "]"]),
    "}",
]


def _root(max_items: int) -> list[Piece]:
    return ["{", *_field("memories", ["[", WS, Many("item", max_items), WS, "]"]), "}"]


def _gbnf(pieces: list[Piece]) -> str:
    out = []
    for piece in pieces:
        if piece is WS:
            out.append("ws")
        elif isinstance(piece, Str):
            out.append(f'"\\"" first char{{0,{piece.most - 1}}} "\\""')
        elif isinstance(piece, Many):
            out.append(f'({piece.rule} (ws "," ws {piece.rule}){{0,{piece.most - 1}}})?')
        elif isinstance(piece, list):
            out.append(_gbnf(piece))
        elif isinstance(piece, Ref):
            out.append(piece.rule)
        else:
            out.append(json.dumps(piece))  # a GBNF literal is quoted as JSON quotes a string
    return " ".join(out)


def _longest(pieces: list[Piece]) -> str:
    rules: dict[str, list[Piece]] = {"item": ITEM, "tag": [Str(TAG_CHARS)]}
    out = []
    for piece in pieces:
        if piece is WS:
            out.append("\n" + " " * WS_SPACES)
        elif isinstance(piece, Str):
            out.append(f'"{WIDE * piece.most}"')
        elif isinstance(piece, Many):
            separator = "\n" + " " * WS_SPACES + "," + "\n" + " " * WS_SPACES
            out.append(separator.join([_longest(rules[piece.rule])] * piece.most))
        elif isinstance(piece, list):
            out.append(_longest(piece))
        elif isinstance(piece, Ref):  # the only rule referenced: the longest type name
            out.append(json.dumps(max((t.value for t in MemoryType), key=len)))
        else:
            out.append(str(piece))
    return "".join(out)


def grammar(max_items: int) -> str:
    """GBNF for {"memories": [...]} with at most `max_items` bounded proposals and no escapes."""
    types = " | ".join(json.dumps(json.dumps(t.value)) for t in MemoryType)
    return "\n".join(
        [
            f"root ::= {_gbnf(_root(max_items))}",
            f"item ::= {_gbnf(ITEM)}",
            f"tag ::= {_gbnf([Str(TAG_CHARS)])}",
            f"type ::= {types}",
            f'ws ::= | " " | "\\n" " "{{0,{WS_SPACES}}}',
            r'first ::= [^"\\\x00-\x20\x7F]',
            r'char ::= [^"\\\x00-\x1F\x7F]',
        ]
    )


def longest(max_items: int) -> str:
    """The longest reply `grammar(max_items)` allows: the most whitespace and four-byte characters
    throughout (every token of a byte-level vocabulary is at least one byte)."""
    return _longest(_root(max_items))


def max_reply_tokens(max_items: int) -> int:
    """A `max_tokens` that no reply within the grammar can reach before it ends."""
    return len(longest(max_items).encode())
