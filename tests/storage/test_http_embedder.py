import json
import math

import httpx
import pytest

from app.errors import EmbedderUnavailable
from app.storage.embedder import Prefixes
from app.storage.http_embedder import HttpEmbedder

URL = "http://embedder.test"


def vector_of(text: str) -> list[float]:
    """A vector that says which text it is for: its length, then 1."""
    return [float(len(text)), 1.0]


class Server:
    """An /v1/embeddings endpoint that records its requests and answers in reverse order."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, object]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert (request.method, request.url.path) == ("POST", "/v1/embeddings")
        body = json.loads(request.content)
        self.bodies.append(body)
        data = [
            {"object": "embedding", "index": n, "embedding": vector_of(t)}
            for n, t in enumerate(body["input"])
        ]
        return httpx.Response(200, json={"object": "list", "data": data[::-1], "model": body["model"]})


def embedder_on(handler: object, batch_size: int = 64, prefixes: Prefixes | None = None) -> HttpEmbedder:
    client = httpx.AsyncClient(base_url=URL, transport=httpx.MockTransport(handler))  # type: ignore[arg-type]
    return HttpEmbedder(client, "nomic-embed-text-v1.5", batch_size=batch_size, prefixes=prefixes)


async def test_the_request_names_the_model_and_carries_the_prefixed_texts() -> None:
    server = Server()
    nomic = Prefixes(query="search_query: ", document="search_document: ")
    await embedder_on(server, prefixes=nomic).embed(["I went hiking"], "document")
    await embedder_on(server, prefixes=nomic).embed(["when?"], "query")
    assert server.bodies == [
        {
            "model": "nomic-embed-text-v1.5",
            "input": ["search_document: I went hiking"],
            "encoding_format": "float",
        },
        {"model": "nomic-embed-text-v1.5", "input": ["search_query: when?"], "encoding_format": "float"},
    ]


async def test_vectors_come_back_in_input_order_by_index_and_of_unit_length() -> None:
    texts = ["a", "bbb", "cc"]
    vectors = await embedder_on(Server()).embed(texts, "document")
    for text, vector in zip(texts, vectors, strict=True):
        norm = math.hypot(*vector_of(text))
        assert vector == pytest.approx([x / norm for x in vector_of(text)])


async def test_texts_are_sent_in_batches_and_joined_in_order() -> None:
    server = Server()
    texts = [f"text {'x' * n}" for n in range(5)]
    vectors = await embedder_on(server, batch_size=2).embed(texts, "document")
    assert [body["input"] for body in server.bodies] == [texts[0:2], texts[2:4], texts[4:5]]
    assert vectors == await embedder_on(Server()).embed(texts, "document")


async def test_nothing_to_embed_sends_nothing() -> None:
    server = Server()
    assert await embedder_on(server).embed([], "query") == []
    assert server.bodies == []


async def test_a_query_asked_again_is_not_sent_again() -> None:
    server = Server()
    embedder = embedder_on(server)
    first = await embedder.embed(["where is Rex"], "query")
    assert await embedder.embed(["where is Rex"], "query") == first
    assert len(server.bodies) == 1


def answering(status: int, body: object) -> object:
    return lambda request: httpx.Response(status, json=body)


def refusing(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def slow(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("timed out", request=request)


@pytest.mark.parametrize(
    ("handler", "message"),
    [
        (refusing, rf"^the embedding server at {URL} is not reachable: ConnectError"),
        (slow, rf"^the embedding server at {URL} timed out"),
        (answering(500, {"error": "model not loaded"}), r"answered 500: .*model not loaded"),
        (answering(404, {"error": "not found"}), r"answered 404"),
        (answering(200, {"object": "list"}), r"sent a malformed reply: KeyError\('data'\)"),
        (
            answering(200, {"data": [{"index": 0, "embedding": [1.0]}]}),
            r"malformed reply: .*1 embeddings for 2 inputs",
        ),
        (lambda request: httpx.Response(200, text="<html>"), r"malformed reply: JSONDecodeError"),
    ],
)
async def test_failures_are_reported_as_the_embedder_being_unavailable(handler: object, message: str) -> None:
    with pytest.raises(EmbedderUnavailable, match=message) as caught:
        await embedder_on(handler).embed(["one", "two"], "document")
    assert (caught.value.status_code, caught.value.code) == (503, "embedder_unavailable")


class Bounded(Server):
    """A server that takes inputs of up to `limit` characters (a character a token) and refuses longer
    ones with the answer `refusal` gives for the length."""

    def __init__(self, limit: int, refusal: object) -> None:
        super().__init__()
        self.limit = limit
        self.refusal = refusal

    def __call__(self, request: httpx.Request) -> httpx.Response:
        texts = json.loads(request.content)["input"]
        longest = max(len(text) for text in texts)
        if longest > self.limit:
            self.bodies.append(json.loads(request.content))
            return self.refusal(longest, self.limit)  # type: ignore[operator,no-any-return]
        return super().__call__(request)


def over_batch(tokens: int, limit: int) -> httpx.Response:
    """llama-server's answer to an input longer than its physical batch."""
    message = (
        f"input ({tokens} tokens) is too large to process. increase the physical batch size "
        f"(current batch size: {limit})"
    )
    return httpx.Response(500, json={"error": {"code": 500, "message": message, "type": "server_error"}})


def over_context(tokens: int, limit: int) -> httpx.Response:
    """llama-server's answer to an input longer than a slot's context."""
    error = {
        "code": 400,
        "message": "the request exceeds the available context size, try increasing it",
        "type": "exceed_context_size_error",
        "n_prompt_tokens": tokens,
        "n_ctx": limit,
    }
    return httpx.Response(400, json={"error": error})


def without_counts(tokens: int, limit: int) -> httpx.Response:
    return httpx.Response(500, json={"error": {"message": "input is too large to process"}})


@pytest.mark.parametrize("refusal", [over_batch, over_context, without_counts])
async def test_an_over_long_text_is_embedded_by_its_start_and_the_rest_of_its_batch_as_usual(
    refusal: object,
) -> None:
    server = Bounded(100, refusal)
    long = "search_document: " + "word " * 200
    texts = ["short one", long, "short two"]
    vectors = await embedder_on(server).embed(texts, "document")
    sent = [text for body in server.bodies for text in body["input"]]  # type: ignore[attr-defined]
    fitted = [text for text in sent if long.startswith(text) and len(text) <= 100]
    assert len(fitted) == 1 and len(fitted[0]) >= 50  # one start of it, not shortened more than needed
    alone = await embedder_on(Server()).embed(["short one", fitted[0], "short two"], "document")
    assert vectors == alone


async def test_a_refusal_that_is_not_about_length_is_still_a_failure() -> None:
    server = Bounded(10, lambda tokens, limit: httpx.Response(500, json={"error": "model not loaded"}))
    with pytest.raises(EmbedderUnavailable, match="answered 500"):
        await embedder_on(server).embed(["x" * 20], "document")
    assert len(server.bodies) == 1  # not retried
