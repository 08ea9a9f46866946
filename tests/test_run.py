"""`make run`'s wiring: the servers it starts, their command lines, and how it fails and stops."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from gguf import GGUFWriter

from app import run
from app.llm.models import ModelError
from app.llm.nomic import NOMIC, NOMIC_Q8_0, QuantizedModel
from app.settings import Settings
from app.storage.backends import NOMIC_MODEL


def make(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def chat_gguf(path: Path) -> Path:
    writer = GGUFWriter(path, "qwen2")
    writer.add_chat_template("{{ messages }}")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_the_banner_gives_the_web_pages_address() -> None:
    assert "The web page: http://127.0.0.1:8123/ui/" in run.banner(make(port=8123))


def test_the_two_servers_listen_on_their_own_ports_with_their_own_threads(tmp_path: Path) -> None:
    settings = make(
        embedder="nomic", llama_port=9001, llama_threads=2, embedder_port=9002, embedder_threads=1
    )
    chat = run.chat_config(settings, chat_gguf(tmp_path / "q.gguf")).command(Path("llama-server"))
    embed = run.embedder_config(settings, tmp_path / "nomic.gguf").command(Path("llama-server"))
    assert (flag(chat, "--port"), flag(chat, "--threads")) == ("9001", "2")
    assert (flag(embed, "--port"), flag(embed, "--threads")) == ("9002", "1")
    assert "--embedding" in embed and "--embedding" not in chat
    assert flag(embed, "--model") == str(tmp_path / "nomic.gguf")
    assert flag(embed, "--alias") == NOMIC_MODEL  # the name Mnemo sends and records
    assert flag(chat, "--alias") == settings.model_alias


def test_the_embedder_file_follows_the_quantisation(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    asked: list[tuple[str, Path]] = []

    def quantize(model: QuantizedModel, folder: Path) -> Path:
        asked.append((model.file, folder))
        return folder / model.file

    monkeypatch.setattr(run, "quantize", quantize)
    q8 = run.embedder_gguf(make(data_dir=tmp_path, embedder="nomic", embedder_quant="q8_0"))
    assert q8 == tmp_path / "models" / NOMIC_Q8_0.file
    assert asked == [(NOMIC_Q8_0.file, tmp_path / "models")]  # written once by llama-quantize if absent


def test_a_present_q8_0_file_with_other_bytes_is_refused(tmp_path: Path) -> None:
    q8 = tmp_path / "models" / NOMIC_Q8_0.file
    q8.parent.mkdir()
    q8.write_bytes(b"GGUF")
    with pytest.raises(ModelError):
        run.embedder_gguf(make(data_dir=tmp_path, embedder="nomic", embedder_quant="q8_0"))


def test_a_present_f16_file_is_checked_not_rewritten(tmp_path: Path) -> None:
    f16 = tmp_path / "models" / NOMIC.file
    f16.parent.mkdir()
    f16.write_bytes(b"not the model")
    with pytest.raises(ModelError, match="delete it to rewrite it"):
        run.embedder_gguf(make(data_dir=tmp_path, embedder="nomic"))


class FakeServer:
    def __init__(self, name: str, stopped: list[str]) -> None:
        self.url = f"http://{name}"
        self.stopped = stopped

    def stop(self) -> None:
        self.stopped.append(self.url)


@pytest.fixture
def quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run.signal, "signal", lambda *args: None)
    monkeypatch.setattr(run.logging, "basicConfig", lambda **kwargs: None)
    for name in ("MNEMO_LLM_BASE_URL", "MNEMO_EMBEDDER_URL", "MNEMO_EMBEDDER_QUANT"):
        monkeypatch.delenv(name, raising=False)


def run_main(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> int:
    monkeypatch.setenv("MNEMO_DATA_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exit:
        run.main()
    return int(exit.value.code or 0)


@pytest.mark.usefixtures("quiet")
def test_nomic_starts_both_servers_and_ctrl_c_stops_them_in_reverse(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stopped: list[str] = []
    monkeypatch.setattr(run, "start_llama", lambda settings: FakeServer("chat", stopped))
    monkeypatch.setattr(run, "start_embedder", lambda settings: FakeServer("embedder", stopped))

    async def interrupted(settings: Settings) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(run, "serve", interrupted)
    assert run_main(monkeypatch, tmp_path, MNEMO_EMBEDDER="nomic") == 0
    assert stopped == ["http://embedder", "http://chat"]


@pytest.mark.usefixtures("quiet")
def test_an_external_chat_server_still_gets_the_local_embedder_unless_one_is_given(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    started: list[str] = []
    monkeypatch.setattr(run, "start_llama", lambda settings: started.append("chat"))
    monkeypatch.setattr(run, "start_embedder", lambda settings: started.append("embedder"))
    run.start_servers(make(embedder="nomic", llm_base_url="http://gpu:8080"), [])
    run.start_servers(
        make(embedder="nomic", llm_base_url="http://gpu:8080", embedder_url="http://gpu:8081"), []
    )
    run.start_servers(make(), [])
    assert started == ["embedder", "chat"]


@pytest.mark.usefixtures("quiet")
def test_an_embedder_that_cannot_start_is_a_message_and_exit_1_and_the_chat_server_stops(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stopped: list[str] = []
    monkeypatch.setattr(run, "start_llama", lambda settings: FakeServer("chat", stopped))

    def no_quantize(model: QuantizedModel, folder: Path) -> Path:
        raise ModelError("llama-quantize failed (1)")

    monkeypatch.setattr(run, "quantize", no_quantize)
    code = run_main(monkeypatch, tmp_path, MNEMO_EMBEDDER="nomic", MNEMO_EMBEDDER_QUANT="q8_0")
    out = capsys.readouterr().out
    assert code == 1
    assert "mnemo: cannot start the embedding server: llama-quantize failed (1)" in out
    assert stopped == ["http://chat"]


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "mnemo.example"])
def test_another_interface_without_keys_is_refused_with_exit_2_and_how_to_set_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str], host: str
) -> None:
    started: list[str] = []
    monkeypatch.setattr(run, "start_servers", lambda settings, servers: started.append("servers"))
    assert run_main(monkeypatch, tmp_path, MNEMO_HOST=host) == 2
    err = capsys.readouterr().err
    assert f"refusing to listen on {host}:8000 without keys" in err
    assert "MNEMO_ADMIN_KEY=" in err and "/admin/tenants" in err
    assert started == []  # refused before llama.cpp starts


@pytest.mark.usefixtures("quiet")
@pytest.mark.parametrize(("host", "admin_key"), [("0.0.0.0", "k" * 32), ("127.0.0.1", ""), ("localhost", "")])
def test_loopback_or_keys_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, host: str, admin_key: str
) -> None:
    served: list[str] = []
    monkeypatch.setattr(run, "start_servers", lambda settings, servers: None)

    async def serve(settings: Settings) -> None:
        served.append(settings.host)
        raise KeyboardInterrupt

    monkeypatch.setattr(run, "serve", serve)
    assert run_main(monkeypatch, tmp_path, MNEMO_HOST=host, MNEMO_ADMIN_KEY=admin_key) == 0
    assert served == [host]


def test_the_banner_shows_the_key_headers_only_when_keys_are_on() -> None:
    assert "Authorization" not in run.banner(make())
    keyed = run.banner(make(admin_key="k" * 20))
    assert 'POST http://127.0.0.1:8000/admin/tenants -H "Authorization: Bearer $MNEMO_ADMIN_KEY"' in keyed
    assert "/chat -H 'Content-Type: application/json' -H \"Authorization: Bearer $MNEMO_API_KEY\"" in keyed
