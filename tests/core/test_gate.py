from driftloop.core.gate import decide_promotion


def test_worse_challenger_is_not_promoted():
    d = decide_promotion("roc_auc", "3", 0.80, "2", 0.84, 0.0, 1000)
    assert not d.promote and "does not beat" in d.reason
    assert d.to_dict()["champion_score"] == 0.84


def test_margin_is_required():
    assert not decide_promotion("roc_auc", "3", 0.845, "2", 0.84, 0.01, 10).promote
    assert decide_promotion("roc_auc", "3", 0.86, "2", 0.84, 0.01, 10).promote


def test_lower_is_better_metrics_and_first_model():
    assert decide_promotion("log_loss", "3", 0.3, "2", 0.4, 0.0, 10).promote
    assert decide_promotion("roc_auc", "1", 0.5, None, None, 0.0, 10).promote
