from __future__ import annotations

import pandas as pd
import pytest

from driftloop.adapters.store import ObjectStore
from driftloop.config.errors import NotFoundError
from driftloop.config.settings import Settings


@pytest.fixture()
def store(file_or_s3_store: ObjectStore) -> ObjectStore:
    return file_or_s3_store


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


def test_read_many_keeps_the_order_and_names_a_missing_object(store):
    keys = [f"many/{n:02d}.bin" for n in range(12)]
    for n, key in enumerate(keys):
        store.write_bytes(key, bytes([n]) * (n + 1))
    order = keys[::-1] + keys[:3]
    assert store.read_many(order) == [store.read_bytes(k) for k in order]
    with pytest.raises(NotFoundError, match="not in the store"):
        store.read_many([keys[0], "many/absent.bin", keys[1]])


def test_create_exclusive_only_once(store):
    assert store.create_exclusive("locks/l.json", b"{}")
    assert not store.create_exclusive("locks/l.json", b"{}")
    store.delete("locks/l.json")
    assert store.create_exclusive("locks/l.json", b"{}")


def test_local_writes_leave_no_temporary_files(tmp_path):
    store = ObjectStore((tmp_path / "s").as_uri())
    store.write_bytes("k/v", b"1")
    assert [p.name for p in (tmp_path / "s" / "k").iterdir()] == ["v"]


def test_modified_is_utc_and_none_when_gone(store):
    from datetime import UTC, datetime, timedelta

    store.write_bytes("m/x", b"1")
    stamp = store.modified("m/x")
    assert stamp is not None and stamp.tzinfo == UTC
    assert abs(datetime.now(UTC) - stamp) < timedelta(minutes=5)
    assert store.modified("m/gone") is None


def s3_settings(tmp_path, endpoint: str, url: str) -> Settings:
    return Settings(state_dir=tmp_path, store_url=url,
                    s3={"endpoint_url": endpoint, "access_key_id": "testing",
                        "secret_access_key": "testing"})  # fmt: skip


def test_a_url_in_another_bucket_is_read_with_the_stores_endpoint_and_keys(
    tmp_path, moto_server, monkeypatch
):
    """Not with fsspec's defaults: no AWS variables are set, only the store knows the way."""
    from driftloop.adapters.datasets import read_frame_at
    from driftloop.config.errors import InputError

    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL",
                "AWS_ENDPOINT_URL_S3", "MLFLOW_S3_ENDPOINT_URL"):  # fmt: skip
        monkeypatch.delenv(var, raising=False)
    name = f"other-{tmp_path.name.lower().replace('_', '-')[-40:]}"
    moto_server.make_bucket(name)
    moto_server.make_bucket(name + "-s")
    store = ObjectStore.from_settings(s3_settings(tmp_path, moto_server.endpoint,
                                                  f"s3://{name}-s/root"))  # fmt: skip
    other = ObjectStore.from_settings(s3_settings(tmp_path, moto_server.endpoint,
                                                  f"s3://{name}"))  # fmt: skip
    other.write_bytes("in/rows.csv", b"a,b\n1,x\n2,y\n")
    frame = read_frame_at(f"s3://{name}/in/rows.csv", store)
    assert frame["a"].tolist() == [1, 2]
    with pytest.raises(InputError, match="not found"):
        read_frame_at(f"s3://{name}/in/nope.csv", store)
    with pytest.raises(InputError, match="backend"):
        ObjectStore((tmp_path / "local").as_uri()).read_url(f"s3://{name}/in/rows.csv")


def test_an_unreachable_store_raises_its_own_error_from_every_operation(tmp_path):
    """botocore's errors are not OSErrors; callers catch StoreUnavailableError alone."""
    from driftloop.adapters.store import StoreUnavailableError

    from ..support.processes import free_port

    closed = f"http://127.0.0.1:{free_port()}"
    store = ObjectStore.from_settings(s3_settings(tmp_path, closed, "s3://nowhere/root"))
    operations = {
        "exists": lambda: store.exists("k"),
        "read": lambda: store.read_bytes("k"),
        "write": lambda: store.write_bytes("k", b"1"),
        "delete": lambda: store.delete("k"),
        "list": lambda: store.list("p"),
        "create": lambda: store.create_exclusive("k", b"1"),
        "modified": lambda: store.modified("k"),
        "url": lambda: store.read_url("s3://elsewhere/k"),
    }
    for name, op in operations.items():
        with pytest.raises(StoreUnavailableError, match="s3://nowhere/root") as raised:
            op()
        assert raised.value.__cause__ is not None, name  # the backend's error is kept
