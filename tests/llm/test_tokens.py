from collections.abc import Mapping, Sequence
from typing import Any

from app.errors import LLMUnsupported
from app.llm.tokens import TokenCounter, estimate_prompt, estimate_text
from tests.fakes import FakeTokenizer


class CountingTokenizer(FakeTokenizer):
    def __init__(self) -> None:
        self.counted: list[str] = []

    async def count_text(self, text: str) -> int:
        self.counted.append(text)
        return await super().count_text(text)


class NoTokenizer:
    async def count_text(self, text: str) -> int:
        raise LLMUnsupported("the model server has no /tokenize endpoint")

    async def count_prompt(self, messages: Sequence[Mapping[str, Any]]) -> int:
        raise LLMUnsupported("the model server has no /apply-template endpoint")


async def test_each_text_is_tokenized_once() -> None:
    tokenizer = CountingTokenizer()
    counter = TokenCounter(tokenizer)
    assert await counter.texts(["a b", "c", "a b"]) == [2, 1, 2]
    assert await counter.texts(["c", "d e f"]) == [1, 3]
    assert await counter.text("a b") == 2
    assert sorted(tokenizer.counted) == ["a b", "c", "d e f"]
    assert counter.exact


async def test_without_a_tokenizer_counts_are_conservative_estimates() -> None:
    counter = TokenCounter(NoTokenizer())
    text = "Ünïcode words and more words"
    assert await counter.text(text) == estimate_text(text) >= len(text.split())
    messages = [{"role": "user", "content": text}]
    assert await counter.prompt(messages) == estimate_prompt(messages)
    assert not counter.exact
    # three bytes a token is more than any real tokenizer gives for prose
    assert estimate_text("hello world, this is an ordinary sentence.") >= 14
