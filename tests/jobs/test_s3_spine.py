"""The spine against a real S3-protocol server (moto) on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
import yaml

from ..conftest import TELCO_SPEC, run_cli

pytestmark = pytest.mark.e2e


def light_spec(tmp_path: Path) -> Path:
    data = yaml.safe_load(TELCO_SPEC.read_text())
    data["source"] = str((TELCO_SPEC.parent / data["source"]).resolve())
    data["candidates"] = [
        {"name": "logistic_regression", "kind": "logistic_regression", "params": {"max_iter": 500}},
        {
            "name": "lightgbm",
            "kind": "lightgbm",
            "params": {"n_estimators": 60, "num_leaves": 15, "verbose": -1},
        },
    ]
    p = tmp_path / "spec.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def test_prepare_train_evaluate_on_s3(tmp_path, moto_server):
    bucket = "spine-e2e"
    moto_server.make_bucket(bucket)
    env = {
        "DRIFTLOOP_STATE_DIR": str(tmp_path / "state"),
        "DRIFTLOOP_SPEC": str(light_spec(tmp_path)),
        **moto_server.env(bucket),
    }
    for cmd in (["prepare"], ["train"], ["evaluate"]):
        result = run_cli(cmd, env)
        assert result.returncode == 0, (cmd, result.stdout, result.stderr)

    s3 = boto3.client(
        "s3",
        endpoint_url=moto_server.endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
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
