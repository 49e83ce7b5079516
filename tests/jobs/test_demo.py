"""The whole loop, as `make demo` runs it, in a temporary folder."""

from __future__ import annotations

import pytest

from ..support.processes import run_cli

pytestmark = pytest.mark.e2e


def test_demo_closes_the_loop(tmp_path):
    result = run_cli(["demo", "--state-dir", str(tmp_path / "demo")], {}, timeout=600)
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    assert "loop closed: yes" in out
    assert "drift share" in out and "-> no retrain" in out
    assert "drifted: " in out and "labelled rows vs test" in out  # inputs and performance
    assert "-> promoted" in out
    assert (tmp_path / "demo" / "store" / "reports").is_dir()
