"""The extraction grammar's bounds, and how a failed attempt is named."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from app.errors import LLMFailed, LLMUnavailable
from app.longterm.extractor import failure_reason
from app.longterm.models import MemoryType
from app.longterm.proposals import (
    CONTENT_CHARS,
    MAX_TAGS,
    TAG_CHARS,
    TITLE_CHARS,
    WS_SPACES,
    Proposals,
    grammar,
    longest,
    max_reply_tokens,
)


def test_the_grammar_bounds_items_strings_tags_and_whitespace() -> None:
    rules = dict(line.split(" ::= ", 1) for line in grammar(3).splitlines())
    assert set(rules) == {"root", "item", "type", "tag", "first", "char", "ws"}
    assert '(item (ws "," ws item){0,2})?' in rules["root"]
    assert f'"\\"" first char{{0,{TITLE_CHARS - 1}}} "\\""' in rules["item"]
    assert f'"\\"" first char{{0,{CONTENT_CHARS - 1}}} "\\""' in rules["item"]
    assert f'(tag (ws "," ws tag){{0,{MAX_TAGS - 1}}})?' in rules["item"]
    assert rules["tag"] == f'"\\"" first char{{0,{TAG_CHARS - 1}}} "\\""'
    assert rules["ws"] == f'| " " | "\\n" " "{{0,{WS_SPACES}}}'
    # No quote, backslash or control character inside a string: no escapes, so no hidden length.
    assert rules["char"] == r'[^"\\\x00-\x1F\x7F]'
    assert rules["first"] == r'[^"\\\x00-\x20\x7F]'  # nor a blank first one: no blank proposal
    for kind in MemoryType:
        assert json.dumps(json.dumps(kind.value)) in rules["type"]
    assert '(item (ws "," ws item){0,0})?' in grammar(1)


def test_the_longest_reply_is_valid_and_sets_max_tokens() -> None:
    reply = longest(3)
    parsed = Proposals.model_validate(json.loads(reply))
    assert len(parsed.memories) == 3
    assert all(len(m.title) == TITLE_CHARS and len(m.content) == CONTENT_CHARS for m in parsed.memories)
    assert all(len(m.tags) == 1 for m in parsed.memories)  # the same tag three times, kept once
    assert max_reply_tokens(3) == len(reply.encode()) > 4 * 3 * (TITLE_CHARS + CONTENT_CHARS)
    assert max_reply_tokens(1) < max_reply_tokens(3)
    # Every place the grammar allows whitespace holds the most it allows.
    compact = json.dumps(json.loads(reply), ensure_ascii=False, separators=(",", ":"))
    padding = len(reply) - len(compact)
    places = 5 + 3 * 14 + 2 * 2 + 3 * 2 * 2  # root, in each item, between items, between tags
    assert padding == places * (1 + WS_SPACES)


def test_a_reply_cut_off_mid_string_is_named_truncated() -> None:
    raw = '{"memories": [{"type": "general", "title": "Bees'
    with pytest.raises(json.JSONDecodeError) as cut:
        json.loads(raw)
    assert failure_reason(cut.value, raw) == "truncated"
    with pytest.raises(json.JSONDecodeError) as bad:
        json.loads("{not json}")
    assert failure_reason(bad.value, "{not json}") == "invalid_json"
    with pytest.raises(ValidationError) as invalid:
        Proposals.model_validate({"memories": 3})
    assert failure_reason(invalid.value, '{"memories": 3}') == "invalid"
    assert failure_reason(TimeoutError(), "") == "timeout"
    assert failure_reason(LLMUnavailable("down"), "") == "llm_unavailable"
    assert failure_reason(LLMFailed("500"), "") == "llm_failed"
