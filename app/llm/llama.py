"""HTTP client for llama.cpp's server: chat (streamed or not), templates, tokens, props."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, contextmanager
from typing import Any

import httpx
from httpx_sse import EventSource, aconnect_sse

from app.errors import LLMFailed, LLMRefused, LLMUnavailable, LLMUnsupported, MnemoError
from app.llm.protocols import ChatMessage, Delta, Finished, ServerInfo, StreamEvent
from app.llm.usage import Usage

NO_ENDPOINT = (404, 405, 501)  # another OpenAI-compatible server: what llama.cpp adds is missing


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


def raise_for_status(response: httpx.Response) -> None:
    """An error status as httpx's exception, for `map_request_errors` to translate."""
    if response.status_code >= 400:
        message = f"llama.cpp answered {response.status_code}"
        raise httpx.HTTPStatusError(message, request=response.request, response=response)


def status_error(response: httpx.Response, doing: str, endpoint: str | None) -> MnemoError:
    """503 is not ready; 400 refuses the request's content; an optional endpoint may be missing."""
    status = response.status_code
    if status == 503:
        return LLMUnavailable(f"llama.cpp is not ready: {_error_text(response)}")
    if endpoint is not None and status in NO_ENDPOINT:
        return LLMUnsupported(f"the model server has no {endpoint} endpoint")
    failure = LLMRefused if status == 400 else LLMFailed
    return failure(f"llama.cpp {doing} ({status}): {_error_text(response)}")


@contextmanager
def map_request_errors(doing: str, endpoint: str | None = None) -> Iterator[None]:
    """httpx's failures before a reply starts, as Mnemo's errors (like httpx's `map_httpcore_exceptions`).

    `doing` names the request in the message; `endpoint`, when given, may be missing (LLMUnsupported).
    """
    try:
        yield
    except httpx.TransportError as exc:
        raise LLMUnavailable(f"llama.cpp is not reachable: {exc!r}") from exc
    except httpx.HTTPStatusError as exc:
        raise status_error(exc.response, doing, endpoint) from exc


@contextmanager
def map_reply_errors() -> Iterator[None]:
    """httpx's failures once a reply streams: the model failed mid-way, not the server's reachability."""
    try:
        yield
    except httpx.TransportError as exc:
        raise LLMFailed(f"llama.cpp broke off the reply: {exc!r}") from exc
    except json.JSONDecodeError as exc:
        raise LLMFailed(f"llama.cpp sent a malformed chunk: {exc}") from exc


class LlamaStream:
    """One streaming chat completion against llama.cpp."""

    def __init__(self, client: httpx.AsyncClient, payload: dict[str, Any]) -> None:
        self._client = client
        self._payload = payload
        self._cm: AbstractAsyncContextManager[EventSource] | None = None
        self._source: EventSource | None = None

    async def open(self) -> None:
        cm = aconnect_sse(self._client, "POST", "/v1/chat/completions", json=self._payload)
        with map_request_errors("rejected the request"):
            self._source = await cm.__aenter__()
            self._cm = cm
            response = self._source.response
            if response.status_code >= 400:
                await response.aread()
                await self.aclose()
                raise_for_status(response)

    async def events(self) -> AsyncIterator[StreamEvent]:
        if self._source is None:
            await self.open()
        assert self._source is not None
        finish_reason: str | None = None
        ended = False
        with map_reply_errors():
            async for sse in self._source.aiter_sse():
                if sse.data == "[DONE]":
                    ended = True
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
                    yield Finished(usage_from(chunk), finish_reason, chunk)
                    return
        if not ended:
            # The connection closed between chunks (the server died): the reply is cut, not finished.
            raise LLMFailed("llama.cpp broke off the reply: the stream ended without [DONE]")
        yield Finished(Usage(), finish_reason)

    async def aclose(self) -> None:
        if self._cm is not None:
            cm, self._cm = self._cm, None
            await cm.__aexit__(None, None, None)


class LlamaClient:
    """Talks to llama-server's OpenAI-style and native endpoints over one httpx client.

    One client serves every seam in `app.llm.protocols`: chat, completion, tokenizer, server probe.
    """

    def __init__(self, http: httpx.AsyncClient, model: str = "") -> None:
        self._http = http
        self._model = model
        self._info: ServerInfo | None = None

    async def _post(self, path: str, payload: Mapping[str, Any]) -> Any:
        with map_request_errors(f"{path} failed", endpoint=path):
            response = await self._http.post(path, json=payload)
            raise_for_status(response)
        return response.json()

    async def _probe(self, path: str, tolerate: tuple[int, ...] = ()) -> httpx.Response:
        """A GET whose error status means the server is not available, unless the caller tolerates it."""
        with map_request_errors(f"{path} failed"):
            response = await self._http.get(path)
        if response.status_code >= 400 and response.status_code not in tolerate:
            raise LLMUnavailable(f"llama.cpp {path} failed ({response.status_code})")
        return response

    async def info(self) -> ServerInfo:
        """Context size per slot and slot count, read once from /props."""
        if self._info is None:
            response = await self._probe("/props", tolerate=NO_ENDPOINT)
            if response.status_code in NO_ENDPOINT:
                # Another OpenAI-compatible server: context size unknown, one slot.
                self._info = ServerInfo(n_ctx=0, total_slots=1)
                return self._info
            props = response.json()
            settings = props.get("default_generation_settings") or {}
            self._info = ServerInfo(
                n_ctx=int(settings.get("n_ctx") or props.get("n_ctx") or 0),
                total_slots=int(props.get("total_slots") or 1),
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
        response = await self._probe("/v1/models")
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
