"""The superseded rule (core.policy.superseded_reason): a verdict about a replaced model
starts nothing, unless a person forced it."""

from __future__ import annotations

from driftloop.core.policy import superseded_reason


def test_a_verdict_about_a_replaced_model_is_superseded():
    reason = superseded_reason("1", "2")
    assert reason is not None and "served by v1" in reason and "now v2" in reason
    assert superseded_reason("2", "2") is None
    assert superseded_reason(2, "2") is None  # type: ignore[arg-type]  # versions read as ints


def test_unknown_versions_or_a_forced_retrain_are_never_superseded():
    assert superseded_reason(None, "2") is None
    assert superseded_reason("1", None) is None
    assert superseded_reason("1", "2", forced=True) is None
