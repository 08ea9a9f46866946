"""Mnemo starts without keys only on loopback, on a data folder without tenants; `python -m app` too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from app import __main__ as entry
from app.binding import is_loopback, unguarded
from app.settings import Settings
from app.tenants.registry import Registry


def make(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_loopback_hosts() -> None:
    for host in ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost", "LOCALHOST"]:
        assert is_loopback(host), host
    for host in ["0.0.0.0", "::", "10.0.0.1", "example.com", ""]:
        assert not is_loopback(host), host


def test_only_an_unguarded_open_binding_is_refused(tmp_path: Path) -> None:
    assert unguarded(make(data_dir=tmp_path)) is None
    assert unguarded(make(data_dir=tmp_path, host="0.0.0.0", admin_key=SecretStr("x" * 16))) is None
    refusal = unguarded(make(data_dir=tmp_path, host="0.0.0.0", port=9000))
    assert refusal is not None and "0.0.0.0:9000" in refusal and "MNEMO_ADMIN_KEY" in refusal


async def test_a_data_folder_with_tenants_is_not_served_without_keys(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "tenants.sqlite3")
    await registry.create("ada")
    registry.close()
    refusal = unguarded(make(data_dir=tmp_path))
    assert refusal is not None and "has tenants" in refusal and "MNEMO_ADMIN_KEY" in refusal
    assert unguarded(make(data_dir=tmp_path, admin_key=SecretStr("x" * 16))) is None
    assert unguarded(make(data_dir=tmp_path / "other")) is None


def test_a_short_or_empty_admin_key(monkeypatch: pytest.MonkeyPatch) -> None:
    assert make(admin_key="").admin_key is None  # `MNEMO_ADMIN_KEY=` as .env.example leaves it
    with pytest.raises(ValueError, match="at least 16 characters"):
        make(admin_key="short")


def test_the_uvicorn_entry_refuses_too(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MNEMO_HOST", "0.0.0.0")
    monkeypatch.setenv("MNEMO_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("MNEMO_ADMIN_KEY", raising=False)
    ran: list[bool] = []
    monkeypatch.setattr(entry.uvicorn, "run", lambda *args, **kwargs: ran.append(True))
    with pytest.raises(SystemExit) as exit:
        entry.main()
    assert exit.value.code == 2 and not ran
    assert "refusing to listen on 0.0.0.0:8000 without keys" in capsys.readouterr().err
    monkeypatch.setenv("MNEMO_ADMIN_KEY", "k" * 20)
    entry.main()
    assert ran == [True]
