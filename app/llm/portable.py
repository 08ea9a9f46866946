"""Portable messages (pure): an OpenAI message list in the form the strictest chat templates take.

OpenAI accepts roles in any order: two user messages in a row, a system or developer
message halfway, tool results, content as a list of parts. Chat templates differ: Qwen's
ChatML takes nearly all of it, Gemma 3's raises unless a single leading system message is
followed by user and assistant turns strictly alternating, starting with the user. This
rewrites a list into that form, keeping every word:

* `developer` is `system`; leading system messages become one;
* a later system message becomes a user message, marked `System:`;
* an assistant's tool calls become text in its message; a tool (or function) result
  becomes a user message naming the call it answers;
* content made only of text parts becomes a string (other parts, images, stay as sent);
* consecutive messages of one role are joined into one;
* assistant messages before the first user message are dropped (a template cannot open
  with a reply), unless nothing else would be left.

Mnemo sends a client's messages as they are and uses this only when llama.cpp's template
refuses them (turns/client_turn.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

Message = dict[str, Any]


def text_of(content: Any) -> str:
    """The text of an OpenAI message content: a string, or the text parts of a list."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, Mapping) and part.get("type") == "text"
        )
    return str(content)


def flat_content(content: Any) -> Any:
    """A string for text-only content; a list with other parts (an image) is kept as sent."""
    if isinstance(content, list) and any(
        not isinstance(part, Mapping) or part.get("type") not in ("text", "refusal") for part in content
    ):
        return content
    if isinstance(content, list):
        return "\n".join(str(part.get("text") or part.get("refusal") or "") for part in content)
    return text_of(content)


def _call_text(call: Mapping[str, Any]) -> str:
    function = call.get("function") or {}
    arguments = function.get("arguments")
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments, ensure_ascii=False)
    return f"[called tool {function.get('name', '')}({arguments}), call id {call.get('id', '')}]"


def _assistant(message: Mapping[str, Any]) -> Message:
    calls = list(message.get("tool_calls") or [])
    if message.get("function_call"):
        calls.append({"function": message["function_call"]})
    content = flat_content(message.get("content"))
    if calls and isinstance(content, str):
        content = "\n".join(part for part in [content, *map(_call_text, calls)] if part)
    return {"role": "assistant", "content": content}


def _plain(message: Mapping[str, Any], first: bool) -> Message:
    """One message with a role every template knows: system, user or assistant."""
    role = message.get("role")
    content = flat_content(message.get("content"))
    if role in ("system", "developer"):
        if first:
            return {"role": "system", "content": content}
        return {"role": "user", "content": _labelled("System", content)}
    if role == "assistant":
        return _assistant(message)
    if role in ("tool", "function"):
        source = message.get("tool_call_id") or message.get("name") or ""
        return {"role": "user", "content": _labelled(f"Result of tool call {source}".rstrip(), content)}
    return {"role": "user", "content": content}


def _labelled(label: str, content: Any) -> Any:
    if isinstance(content, list):
        return [{"type": "text", "text": f"{label}:"}, *content]
    return f"{label}: {content}"


def _parts(content: Any) -> list[Any]:
    return list(content) if isinstance(content, list) else [{"type": "text", "text": str(content)}]


def _joined(first: Any, second: Any) -> Any:
    if isinstance(first, str) and isinstance(second, str):
        return f"{first}\n\n{second}"
    return [*_parts(first), *_parts(second)]


def portable(messages: Sequence[Mapping[str, Any]]) -> list[Message]:
    """The messages as a leading system message, then user and assistant turns alternating."""
    result: list[Message] = []
    leading = True
    for message in messages:
        plain = _plain(message, first=leading)
        leading = leading and plain["role"] == "system"
        if result and result[-1]["role"] == plain["role"]:
            result[-1] = {"role": plain["role"], "content": _joined(result[-1]["content"], plain["content"])}
        else:
            result.append(plain)
    return _without_leading_replies(result)


def _without_leading_replies(messages: list[Message]) -> list[Message]:
    start = 1 if messages and messages[0]["role"] == "system" else 0
    if start < len(messages) and messages[start]["role"] == "assistant" and len(messages) > start + 1:
        return [*messages[:start], *messages[start + 1 :]]
    return messages
