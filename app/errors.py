"""The errors Mnemo reports, each with its HTTP status and a stable error code."""

from __future__ import annotations


class MnemoError(Exception):
    """Base class: a failure with a message a person understands."""

    status_code = 500
    code = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(MnemoError):
    status_code = 422
    code = "invalid_input"


class MessageTooLarge(InvalidInput):
    code = "message_too_large"


class NotFound(MnemoError):
    status_code = 404
    code = "not_found"


class StorageFull(MnemoError):
    """A write would take a tenant past its cap on stored turns or memories; nothing was written."""

    status_code = 429
    code = "storage_full"


class OverStorageCap(StorageFull):
    """One request holds more than a tenant may store at all; nothing was written."""

    status_code = 413
    code = "over_storage_cap"


def check_room(what: str, setting: str, cap: int, stored: int, adding: int) -> None:
    """Raise if `adding` more `what` would take a tenant storing `stored` past `cap` (0: no cap)."""
    if cap <= 0 or adding <= 0 or stored + adding <= cap:
        return
    if adding > cap:
        raise OverStorageCap(
            f"This request would store {adding} {what}, more than the {cap} a tenant may store "
            f"({setting}); nothing was stored."
        )
    raise StorageFull(
        f"{stored} {what} are stored of the {cap} allowed ({setting}); these {adding} would go past the "
        f"cap, so nothing was stored. Delete some to make room; what is stored is kept."
    )


class LLMUnavailable(MnemoError):
    """llama.cpp cannot be reached (before anything was streamed)."""

    status_code = 503
    code = "llm_unavailable"


class LLMFailed(MnemoError):
    """llama.cpp answered with an error or broke off mid-way."""

    status_code = 502
    code = "llm_failed"


class LLMRefused(LLMFailed):
    """llama.cpp refused the request as invalid (400): its content, not the server, is the problem.

    Still a 502 where Mnemo wrote the request; where the client's messages are relayed
    (/v1) it becomes the client's 422.
    """


class LLMUnsupported(LLMFailed):
    """The server lacks an endpoint Mnemo can do without (another OpenAI-compatible server)."""

    code = "llm_unsupported"


class StoreUnavailable(MnemoError):
    """Chroma (or the embedder in front of it) failed."""

    status_code = 503
    code = "store_unavailable"


class EmbedderUnavailable(StoreUnavailable):
    """The embedding server cannot be reached, failed a request or sent what is not embeddings."""

    code = "embedder_unavailable"


class VectorSpaceMismatch(MnemoError):
    """The data folder's vectors were made by another embedding model than the configured one."""

    code = "vector_space_mismatch"
