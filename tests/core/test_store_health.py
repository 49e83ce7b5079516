"""Back-off for a failing object store."""

from __future__ import annotations

from driftloop.core.store_health import StoreHealth


def test_up_until_a_failure_then_waits_longer_after_each_failed_retry():
    health = StoreHealth(min_backoff_s=0.5, max_backoff_s=4.0)
    assert not health.down and health.should_try(0.0)
    health.failed(10.0)
    assert health.down and health.down_since == 10.0
    assert not health.should_try(10.4) and health.should_try(10.5)
    waits = []
    now = 10.5
    for _ in range(5):
        health.failed(now)
        waits.append(health.backoff_s)
        now = health.retry_at
    assert waits == [1.0, 2.0, 4.0, 4.0, 4.0]  # doubles, capped
    assert health.down_since == 10.0 and health.failures == 6


def test_a_success_resets_the_back_off():
    health = StoreHealth(min_backoff_s=0.5)
    health.failed(0.0)
    health.failed(0.5)
    health.succeeded()
    assert not health.down and health.should_try(0.6)
    health.failed(1.0)
    assert health.backoff_s == 0.5
