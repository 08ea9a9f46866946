"""HTTP client for llama.cpp's server: chat (streamed or not), templates, tokens, props."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from httpx_sse import aconnect_sse

from app.errors import LLMFailed, LLMRefused, LLMUnavailable, LLMUnsupported
from app.llm.usage import Usage

ChatMessage = Mapping[str, Any]


@dataclass(frozen=True)
class Delta:
    """A piece of the reply as it arrives, with llama.cpp's chunk for relays that want all of it."""

    text: str
    chunk: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Finished:
    """The end of a completion, with llama.cpp's own token accounting."""

    usage: Usage
    finish_reason: str | None = None
    timings: Mapping[str, Any] = field(default_factory=dict)
    chunk: Mapping[str, Any] | None = None  # the final chunk, with `usage`


StreamEvent = Delta | Finished


@dataclass(frozen=True)
class ServerInfo:
    """What /props tells about the served model."""

    n_ctx: int
    total_slots: int
    model: str
    has_chat_template: bool


class LLM(Protocol):
    """The one seam between Mnemo and the model server."""

    def stream_chat(self, messages: Sequence[ChatMessage], params: Mapping[str, Any]) -> Stream: ...
    async def count_prompt(self, messages: Sequence[ChatMessage]) -> int: ...
    async def count_text(self, text: str) -> int: ...
    async def complete(self, messages: Sequence[ChatMessage], params: Mapping[str, Any]) -> str: ...
    async def info(self) -> ServerInfo: ...
    async def healthy(self) -> bool: ...
    async def models(self) -> Mapping[str, Any]: ...


class Stream(Protocol):
    """An opened completion: `open()` fails early (before anything is relayed), then iterate."""

    async def open(self) -> None: ...
    def events(self) -> AsyncIterator[StreamEvent]: ...
    async def aclose(self) -> None: ...


def usage_from(chunk: Mapping[str, Any]) -> Usage:
    """Usage from llama.cpp's final chunk: `usage` plus `timings` (prompt_n evaluated, cache_n reused)."""
    usage = chunk.get("usage") or {}
    timings = chunk.get("timings") or {}
    details = usage.get("prompt_tokens_details") or {}
    cached = timings.get("cache_n", details.get("cached_tokens", 0))
    prompt = int(usage.get("prompt_tokens", 0))
    evaluated = timings.get("prompt_n", prompt - int(cached or 0))
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=int(usage.get("completion_tokens", 0)),
        cached_tokens=int(cached or 0),
        evaluated_tokens=int(evaluated or 0),
    )


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text[:500]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message", error))
    return str(error or body)[:500]


class LlamaStream:
    """One streaming chat completion against llama.cpp."""

    def __init__(self, client: httpx.AsyncClient, payload: dict[str, Any]) -> None:
        self._client = client
        self._payload = payload
        self._cm: Any = None
        self._source: Any = None

    async def open(self) -> None:
        self._cm = aconnect_sse(self._client, "POST", "/v1/chat/completions", json=self._payload)
        try:
            self._source = await self._cm.__aenter__()
        except httpx.TransportError as exc:
            self._cm = None
            raise LLMUnavailable(f"llama.cpp is not reachable: {exc!r}") from exc
        response: httpx.Response = self._source.response
        if response.status_code >= 400:
            await response.aread()
            message = _error_text(response)
            await self.aclose()
            if response.status_code == 503:
                raise LLMUnavailable(f"llama.cpp is not ready: {message}")
            failure = LLMRefused if response.status_code == 400 else LLMFailed
            raise failure(f"llama.cpp rejected the request ({response.status_code}): {message}")

    async def events(self) -> AsyncIterator[StreamEvent]:
        if self._source is None:
            await self.open()
        finish_reason: str | None = None
        try:
            async for sse in self._source.aiter_sse():
                if sse.data == "[DONE]":
                    break
                chunk = json.loads(sse.data)
                if "error" in chunk:
                    raise LLMFailed(f"llama.cpp failed mid-way: {chunk['error']}")
                for choice in chunk.get("choices") or []:
                    # Chunks without text (the role, tool calls, the finish reason) are relayed too.
                    text = (choice.get("delta") or {}).get("content") or ""
                    yield Delta(text, chunk)
                    finish_reason = choice.get("finish_reason") or finish_reason
                if chunk.get("usage"):
                    yield Finished(usage_from(chunk), finish_reason, chunk.get("timings") or {}, chunk)
                    return
        except httpx.TransportError as exc:
            raise LLMFailed(f"llama.cpp broke off the reply: {exc!r}") from exc
        except json.JSONDecodeError as exc:
            raise LLMFailed(f"llama.cpp sent a malformed chunk: {exc}") from exc
        yield Finished(Usage(), finish_reason)

    async def aclose(self) -> None:
        if self._cm is not None:
            cm, self._cm = self._cm, None
            await cm.__aexit__(None, None, None)


class LlamaClient:
    """Talks to llama-server's OpenAI-style and native endpoints over one httpx client."""

    def __init__(self, http: httpx.AsyncClient, model: str = "") -> None:
        self._http = http
        self._model = model
        self._info: ServerInfo | None = None

    async def _post(self, path: str, payload: Mapping[str, Any]) -> Any:
        try:
            response = await self._http.post(path, json=payload)
        except httpx.TransportError as exc:
            raise LLMUnavailable(f"llama.cpp is not reachable: {exc!r}") from exc
        if response.status_code == 503:
            raise LLMUnavailable(f"llama.cpp is not ready: {_error_text(response)}")
        if response.status_code in (404, 405, 501):
            raise LLMUnsupported(f"the model server has no {path} endpoint")
        if response.status_code >= 400:
            failure = LLMRefused if response.status_code == 400 else LLMFailed
            raise failure(f"llama.cpp {path} failed ({response.status_code}): {_error_text(response)}")
        return response.json()

    async def info(self) -> ServerInfo:
        """Context size per slot, slot count and model, read once from /props."""
        if self._info is None:
            try:
                response = await self._http.get("/props")
            except httpx.TransportError as exc:
                raise LLMUnavailable(f"llama.cpp is not reachable: {exc!r}") from exc
            if response.status_code in (404, 405, 501):
                # Another OpenAI-compatible server: context size unknown, one slot.
                self._info = ServerInfo(n_ctx=0, total_slots=1, model=self._model, has_chat_template=False)
                return self._info
            if response.status_code >= 400:
                raise LLMUnavailable(f"llama.cpp /props failed ({response.status_code})")
            props = response.json()
            settings = props.get("default_generation_settings") or {}
            self._info = ServerInfo(
                n_ctx=int(settings.get("n_ctx") or props.get("n_ctx") or 0),
                total_slots=int(props.get("total_slots") or 1),
                model=str(props.get("model_alias") or props.get("model_path") or self._model),
                has_chat_template=bool(props.get("chat_template")),
            )
        return self._info

    async def healthy(self) -> bool:
        try:
            response = await self._http.get("/health")
        except httpx.TransportError:
            return False
        return response.status_code == 200

    async def models(self) -> Mapping[str, Any]:
        """llama.cpp's /v1/models list, as it serves it."""
        try:
            response = await self._http.get("/v1/models")
        except httpx.TransportError as exc:
            raise LLMUnavailable(f"llama.cpp is not reachable: {exc!r}") from exc
        if response.status_code >= 400:
            raise LLMUnavailable(f"llama.cpp /v1/models failed ({response.status_code})")
        body: Mapping[str, Any] = response.json()
        return body

    async def apply_template(self, messages: Sequence[ChatMessage]) -> str:
        body = await self._post("/apply-template", {"messages": list(messages)})
        return str(body["prompt"])

    async def tokenize(self, text: str, add_special: bool = False) -> list[int]:
        body = await self._post(
            "/tokenize", {"content": text, "add_special": add_special, "parse_special": True}
        )
        return [int(t) if not isinstance(t, dict) else int(t["id"]) for t in body["tokens"]]

    async def count_prompt(self, messages: Sequence[ChatMessage]) -> int:
        """Exact prompt tokens for these messages, as the server will evaluate them."""
        prompt = await self.apply_template(messages)
        return len(await self.tokenize(prompt, add_special=True))

    async def count_text(self, text: str) -> int:
        return len(await self.tokenize(text))

    def stream_chat(self, messages: Sequence[ChatMessage], params: Mapping[str, Any]) -> LlamaStream:
        payload: dict[str, Any] = {
            "model": self._model,
            **params,
            "messages": list(messages),
            "stream": True,
            "stream_options": {"include_usage": True},
            "cache_prompt": True,
        }
        return LlamaStream(self._http, payload)

    async def complete(self, messages: Sequence[ChatMessage], params: Mapping[str, Any]) -> str:
        """A whole (non-streamed) reply, used for summaries."""
        payload = {"model": self._model, **params, "messages": list(messages), "stream": False}
        body = await self._post("/v1/chat/completions", payload)
        choices = body.get("choices") or []
        if not choices:
            raise LLMFailed("llama.cpp returned no choices")
        return str(choices[0].get("message", {}).get("content") or "")
