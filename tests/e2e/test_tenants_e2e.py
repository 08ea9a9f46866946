"""Two tenants on one real Mnemo (keys on) in front of the real llama.cpp: each chats through the
OpenAI SDK with its own key in a conversation of the same id, and neither's words reach the other's
prompt. Asserts what Mnemo controls: what is stored, what is sent, who is refused; never the wording.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.llm.server import LlamaServer
from bench.harness import MnemoProcess

ADMIN = "e2e-admin-key-0123456789abcdef"
CID = "e2e-shared-id"
FAST: dict[str, Any] = {"model": "qwen", "temperature": 0, "max_tokens": 16}
SECRET = "My locker code is 4417 and my cat is called Quillon."


@pytest.fixture(scope="module")
def keyed(llama: LlamaServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MnemoProcess]:
    data: Path = tmp_path_factory.mktemp("keyed")
    process = MnemoProcess(data, llama.url, MNEMO_EXTRACTION_ENABLED="false", MNEMO_ADMIN_KEY=ADMIN)
    process.start()
    yield process
    process.stop()


def admin(mnemo: MnemoProcess) -> httpx.Client:
    return httpx.Client(base_url=mnemo.url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30)


def sdk(mnemo: MnemoProcess, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{mnemo.url}/v1", api_key=key, default_headers={"X-Conversation-Id": CID})


def sent(mnemo: MnemoProcess, key: str) -> str:
    """Every message of the tenant's last prompt in CID, as one text."""
    last = httpx.get(
        f"{mnemo.url}/conversations/{CID}/context", headers={"Authorization": f"Bearer {key}"}, timeout=30
    )
    assert last.status_code == 200, last.text
    return "\n".join(str(m["content"]) for m in last.json()["messages"])


def test_two_tenants_with_one_conversation_id_never_see_each_other(keyed: MnemoProcess) -> None:
    with admin(keyed) as http:
        made = {name: http.post("/admin/tenants", json={"name": name}) for name in ("alice", "bob")}
    assert all(r.status_code == 201 for r in made.values())
    alice, bob = (made[name].json()["api_key"] for name in ("alice", "bob"))

    sdk(keyed, alice).chat.completions.create(messages=[{"role": "user", "content": SECRET}], **FAST)
    question = [{"role": "user", "content": "What is my locker code and my cat's name?"}]
    sdk(keyed, bob).chat.completions.create(messages=question, **FAST)
    assert "4417" not in sent(keyed, bob) and "Quillon" not in sent(keyed, bob)
    sdk(keyed, alice).chat.completions.create(messages=question, **FAST)
    assert "Quillon" in sent(keyed, alice)  # her own words reach her prompt

    with pytest.raises(openai.AuthenticationError):
        sdk(keyed, "mnemo_not_a_key").chat.completions.create(messages=question, **FAST)
    with admin(keyed) as http:
        key_id = made["alice"].json()["key_id"]
        assert http.delete(f"/admin/tenants/alice/keys/{key_id}").status_code == 200
        metrics = http.get("/metrics")
    with pytest.raises(openai.AuthenticationError):  # revoked: refused at once
        sdk(keyed, alice).chat.completions.create(messages=question, **FAST)

    assert metrics.status_code == 200
    samples = {
        (s.name, s.labels.get("route"), s.labels.get("status")): s.value
        for family in text_string_to_metric_families(metrics.text)
        for s in family.samples
    }
    assert samples[("mnemo_http_requests_total", "/v1/chat/completions", "200")] >= 3
    assert httpx.get(f"{keyed.url}/metrics", timeout=30).status_code == 401  # the admin key's alone
