"""The ``reports/`` key family: ids, listing newest first, read and write."""

from __future__ import annotations

import time

import pytest

from driftloop.adapters.reports import (
    is_report_id,
    new_report_id,
    read_report,
    read_report_html,
    report_ids,
    report_key,
    report_uri,
    write_report,
)
from driftloop.adapters.store import ObjectStore
from driftloop.config.errors import NotFoundError


@pytest.fixture()
def store(tmp_path) -> ObjectStore:
    return ObjectStore((tmp_path / "store").as_uri())


def test_new_ids_have_the_pattern_and_sort_by_time() -> None:
    ids = []
    for _ in range(3):
        ids.append(new_report_id())
        time.sleep(0.002)
    assert all(is_report_id(i) for i in ids)
    assert ids == sorted(ids)
    assert is_report_id("20261128T100000Z-abcdef")  # ids from before microseconds
    for bad in ("../etc/passwd", "20261128T100000Z-ABCDEF", "", None, "latest"):
        assert not is_report_id(bad)


def test_listing_is_newest_first_and_only_reports_with_a_summary(store) -> None:
    ids = ["20261128T100000000001Z-000001", "20261128T100000000003Z-000003",
           "20261128T100000000002Z-000002"]  # fmt: skip
    for i in ids:
        write_report(store, i, {"report_id": i}, html=b"<html></html>")
    store.write_bytes(report_key("20261128T100000000009Z-000009", "drift.html"), b"half")
    store.write_json("reports/stray.json", {})
    assert report_ids(store) == sorted(ids, reverse=True)
    assert report_ids(store, limit=1) == ["20261128T100000000003Z-000003"]
    assert report_ids(ObjectStore(store.url + "-empty")) == []


def test_write_then_read(store) -> None:
    rid = new_report_id()
    write_report(store, rid, {"a": 1}, html=b"<p>x</p>")
    assert read_report(store, rid) == {"a": 1}
    assert read_report_html(store, rid) == b"<p>x</p>"
    assert report_uri(store, rid) == f"{store.url}/reports/{rid}/drift.html"
    other = new_report_id()
    write_report(store, other, {"b": 2})  # no HTML (detect --no-report)
    with pytest.raises(NotFoundError):
        read_report_html(store, other)
