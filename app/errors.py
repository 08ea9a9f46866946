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
