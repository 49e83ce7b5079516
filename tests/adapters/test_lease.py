from __future__ import annotations

import json
import time

from driftloop.adapters.lease import acquire_lease, lease_key, read_lease
from driftloop.adapters.store import ObjectStore


def test_only_one_holder_until_release(tmp_path):
    store = ObjectStore((tmp_path / "s").as_uri())
    first = acquire_lease(store, "retrain", ttl_s=60, holder="a")
    assert first is not None
    assert acquire_lease(store, "retrain", ttl_s=60, holder="b") is None
    first.release()
    second = acquire_lease(store, "retrain", ttl_s=60, holder="b")
    assert second is not None and read_lease(store, "retrain")["holder"] == "b"


def test_stale_lease_is_taken_over(tmp_path):
    store = ObjectStore((tmp_path / "s").as_uri())
    # a crashed holder left a lease that expired a minute ago
    store.write_bytes(
        lease_key("retrain"),
        json.dumps(
            {"holder": "crashed", "acquired_at": time.time() - 700, "expires_at": time.time() - 60}
        ).encode(),
    )
    lease = acquire_lease(store, "retrain", ttl_s=60, holder="new")
    assert lease is not None
    assert lease.took_over["holder"] == "crashed"
    assert read_lease(store, "retrain")["holder"] == "new"


def test_release_does_not_remove_someone_elses_lease(tmp_path):
    store = ObjectStore((tmp_path / "s").as_uri())
    old = acquire_lease(store, "retrain", ttl_s=0.01, holder="old")
    time.sleep(0.05)
    new = acquire_lease(store, "retrain", ttl_s=60, holder="new")
    assert new is not None
    old.release()
    assert read_lease(store, "retrain")["holder"] == "new"


def test_keep_alive_renews(tmp_path):
    store = ObjectStore((tmp_path / "s").as_uri())
    lease = acquire_lease(store, "retrain", ttl_s=1.5, holder="a")
    lease.keep_alive(every_s=0.2)
    first = read_lease(store, "retrain")["expires_at"]
    time.sleep(0.6)
    assert read_lease(store, "retrain")["expires_at"] > first
    lease.release()
    assert read_lease(store, "retrain") is None


def test_release_waits_for_a_renewal_in_flight(tmp_path):
    """A renewal running when the lease is released must not write it back afterwards."""
    import threading

    store = ObjectStore((tmp_path / "s").as_uri())
    lease = acquire_lease(store, "retrain", ttl_s=60, holder="a")
    entered, go_on = threading.Event(), threading.Event()
    write = store.write_json

    def slow_write(key, value):  # the renewal's write, held until release() has started
        entered.set()
        go_on.wait(5)
        write(key, value)

    store.write_json = slow_write  # type: ignore[method-assign]
    lease.keep_alive(every_s=0.01)
    assert entered.wait(5)
    releaser = threading.Thread(target=lease.release)
    releaser.start()
    time.sleep(0.1)  # release() is now waiting for the renewal
    go_on.set()
    releaser.join(5)
    store.write_json = write  # type: ignore[method-assign]
    assert read_lease(store, "retrain") is None
