from driftloop.core.gate import BOTH, RECENT, TEST, decide_promotion, deciding_set


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


def test_the_newest_held_out_rows_decide_when_there_are_enough():
    assert deciding_set(400, 1000, 100) == RECENT
    assert deciding_set(50, 1000, 100) == BOTH
    assert deciding_set(0, 1000, 100) == TEST
    scores = {RECENT: {"rows": 400, "challenger": 0.83, "champion": 0.85},
              TEST: {"rows": 1000, "challenger": 0.86, "champion": 0.84}}  # fmt: skip
    # better on the old test split, worse on the newest rows: not promoted
    d = decide_promotion("roc_auc", "3", 0.83, "2", 0.85, 0.0, 400,
                         "the newest 400 held-out production rows", scores)  # fmt: skip
    assert not d.promote and d.reason.endswith("on the newest 400 held-out production rows")
    assert d.to_dict()["scores"][TEST]["challenger"] == 0.86
