"""The spec file ``driftloop init`` writes: comments beside each choice, read back unchanged."""

from __future__ import annotations

import pytest

from driftloop.config.errors import InputError

from ..core.test_spec_inference import mixed_frame


def test_commented_yaml_reads_back_and_carries_the_reasons(tmp_path):
    import yaml

    from driftloop.jobs.init import init_spec

    data = tmp_path / "mixed.csv"
    mixed_frame().to_csv(data, index=False)
    out = tmp_path / "configs" / "mixed.yaml"
    result = init_spec(data, "outcome", out)
    text = out.read_text()
    assert yaml.safe_load(text)["source"] == "../mixed.csv"
    assert "- signup_date  # dropped: a date" in text
    assert "- customer_id  # dropped: ID-like" in text
    assert "- plan_code  # integer code with 4 values" in text
    assert "# binary classification: two distinct values; positive class 'churned'" in text
    assert result.spec.positive_class == "churned"
    with pytest.raises(InputError, match="already exists; pass --force"):
        init_spec(data, "outcome", out)
    init_spec(data, "outcome", out, force=True)
