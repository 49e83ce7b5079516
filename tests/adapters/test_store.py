from __future__ import annotations

import pandas as pd
import pytest

from driftloop.adapters.store import ObjectStore
from driftloop.config.errors import NotFoundError
from driftloop.config.settings import Settings


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.e2e)])  # s3: a moto process
def store(request, tmp_path) -> ObjectStore:
    if request.param == "file":
        return ObjectStore((tmp_path / "store").as_uri())
    moto_server = request.getfixturevalue("moto_server")
    bucket = f"store-{tmp_path.name.lower().replace('_', '-')[-40:]}"
    moto_server.make_bucket(bucket)
    env = moto_server.env(bucket)
    settings = Settings(
        state_dir=tmp_path,
        store_url=env["DRIFTLOOP_STORE_URL"],
        s3={
            "endpoint_url": moto_server.endpoint,
            "access_key_id": "testing",
            "secret_access_key": "testing",
        },
    )
    return ObjectStore.from_settings(settings)


def test_roundtrip_bytes_json_parquet(store):
    store.write_bytes("a/b.txt", b"hello")
    assert store.read_bytes("a/b.txt") == b"hello"
    store.write_json("a/c.json", {"x": 1})
    assert store.read_json("a/c.json") == {"x": 1}
    frame = pd.DataFrame({"n": [1.0, None], "s": ["x", None]})
    store.write_parquet("a/d.parquet", frame)
    back = store.read_parquet("a/d.parquet")
    assert back["s"].tolist() == ["x", None]
    assert store.list("a") == ["a/b.txt", "a/c.json", "a/d.parquet"]
    assert store.exists("a/b.txt") and not store.exists("a/zzz")


def test_missing_object_is_not_found(store):
    with pytest.raises(NotFoundError, match="not in the store"):
        store.read_bytes("nope/x.json")


def test_create_exclusive_only_once(store):
    assert store.create_exclusive("locks/l.json", b"{}")
    assert not store.create_exclusive("locks/l.json", b"{}")
    store.delete("locks/l.json")
    assert store.create_exclusive("locks/l.json", b"{}")


def test_local_writes_leave_no_temporary_files(tmp_path):
    store = ObjectStore((tmp_path / "s").as_uri())
    store.write_bytes("k/v", b"1")
    assert [p.name for p in (tmp_path / "s" / "k").iterdir()] == ["v"]
