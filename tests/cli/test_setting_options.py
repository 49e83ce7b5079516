"""Options that override a setting build the Settings with it (settings are frozen): the
option wins over the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..support.processes import free_port, run_cli

pytestmark = pytest.mark.e2e


def test_event_send_url_overrides_the_webhook_setting(tmp_path: Path) -> None:
    given, configured = free_port(), free_port()  # nothing listens on either
    env = {
        "DRIFTLOOP_STATE_DIR": str(tmp_path / "state"),
        "DRIFTLOOP_WEBHOOK__URL": f"http://127.0.0.1:{configured}/drift-detected",
        "DRIFTLOOP_WEBHOOK__RETRIES": "1",
    }
    url = f"http://127.0.0.1:{given}/drift-detected"
    result = run_cli(["event", "send", "--url", url, "--event-id", "e-1"], env)
    assert result.returncode == 1, (result.stdout, result.stderr[-2000:])
    message = " ".join(result.stderr.split())
    assert f"could not deliver event e-1 to {url}" in message, message
    assert str(configured) not in message
    assert "Traceback" not in result.stderr
