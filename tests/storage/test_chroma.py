import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import chromadb
import pytest

from app.settings import Settings
from app.storage.chroma import chroma_client, from_iso, hits, iso, open_collection, records, required_time


def test_times_are_stored_in_utc_and_read_back() -> None:
    paris = datetime(2024, 5, 1, 14, 30, tzinfo=timezone(timedelta(hours=2)))
    assert iso(paris) == "2024-05-01T12:30:00+00:00"
    assert from_iso(iso(paris)) == paris
    assert required_time(iso(paris)) == paris


def test_an_absent_time_is_an_empty_string() -> None:
    assert iso(None) == ""
    assert from_iso("") is None
    assert from_iso(None) is None
    with pytest.raises(ValueError):
        required_time("")


def test_a_collection_is_cosine_and_takes_our_vectors(chroma: Any) -> None:
    collection = open_collection(chroma, "things")
    assert collection.metadata["hnsw:space"] == "cosine"
    collection.add(
        ids=["a", "b"],
        documents=["north", "east"],
        metadatas=[{"n": 1}, {"n": 2}],
        embeddings=[[1.0, 0.0], [0.0, 1.0]],
    )
    assert open_collection(chroma, "things").count() == 2  # opened again, not replaced
    got = records(collection.get(ids=["b", "a"], include=["documents", "metadatas"]))
    assert sorted(got) == [("a", "north", {"n": 1}), ("b", "east", {"n": 2})]
    query = collection.query(
        query_embeddings=[[0.6, 0.8]], n_results=2, include=["documents", "metadatas", "distances"]
    )
    assert hits(query) == [("b", "east", {"n": 2}, 0.8), ("a", "north", {"n": 1}, 0.6)]


def test_a_collection_refuses_documents_without_vectors(chroma: Any) -> None:
    collection = open_collection(chroma, "things")
    with pytest.raises(Exception):  # noqa: B017 (chromadb's error types vary by version)
        collection.add(ids=["a"], documents=["no vector given"])
    assert collection.count() == 0


def test_the_embedded_client_keeps_its_data_under_the_data_folder(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path / "data")  # type: ignore[call-arg]
    client = chroma_client(settings)
    open_collection(client, "things").add(ids=["a"], documents=["x"], embeddings=[[1.0, 0.0]])
    assert settings.chroma_dir.is_dir() and any(settings.chroma_dir.iterdir())
    assert os.environ["ANONYMIZED_TELEMETRY"] == "False"


def test_a_chroma_url_makes_a_client_of_that_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[dict[str, Any]] = []
    monkeypatch.setattr(chromadb, "HttpClient", lambda **kwargs: made.append(kwargs) or "remote")
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path,
        chroma_url="https://chroma.internal:8443",
    )
    assert chroma_client(settings) == "remote"
    [kwargs] = made
    assert (kwargs["host"], kwargs["port"], kwargs["ssl"]) == ("chroma.internal", 8443, True)
    assert not kwargs["settings"].anonymized_telemetry
    assert not settings.chroma_dir.exists()  # nothing on disk for a remote store


def test_a_plain_chroma_url_defaults_to_port_8000(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[dict[str, Any]] = []
    monkeypatch.setattr(chromadb, "HttpClient", lambda **kwargs: made.append(kwargs))
    chroma_client(Settings(_env_file=None, data_dir=tmp_path, chroma_url="http://chroma"))  # type: ignore[call-arg]
    assert (made[0]["host"], made[0]["port"], made[0]["ssl"]) == ("chroma", 8000, False)
