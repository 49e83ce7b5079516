"""The spine against a real S3-protocol server (moto) on 127.0.0.1."""

from __future__ import annotations

import pytest

from ..support.paths import write_light_spec
from ..support.processes import run_cli

pytestmark = pytest.mark.e2e


def test_prepare_train_evaluate_on_s3(tmp_path, moto_server):
    bucket = "spine-e2e"
    moto_server.make_bucket(bucket)
    env = {
        "DRIFTLOOP_STATE_DIR": str(tmp_path / "state"),
        "DRIFTLOOP_SPEC": str(write_light_spec(tmp_path / "spec.yaml")),
        **moto_server.env(bucket),
    }
    for cmd in (["prepare"], ["train"], ["evaluate"]):
        result = run_cli(cmd, env)
        assert result.returncode == 0, (cmd, result.stdout, result.stderr)

    s3 = moto_server.client()
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for o in page.get("Contents", [])
    ]
    assert any(k.startswith("driftloop/datasets/") and k.endswith("/manifest.json") for k in keys)
    assert any(k.startswith("driftloop/mlflow/") and k.endswith("MLmodel") for k in keys)
    assert any(k.startswith("driftloop/evaluations/") for k in keys)
    # nothing of the store or the model landed on local disk
    assert not (tmp_path / "state" / "store").exists()
