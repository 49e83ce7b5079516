from driftloop.core.gate import BOTH, RECENT, TEST, decide_on_sets, decide_promotion, deciding_sets


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
    assert deciding_sets(400, 100, confident=True) == (RECENT,)  # a confident win there
    assert deciding_sets(400, 100, confident=False) == (RECENT, BOTH)  # point scores: both
    assert deciding_sets(50, 100, confident=True) == (BOTH,)
    assert deciding_sets(0, 100, confident=True) == (TEST,)
    scores = {RECENT: {"rows": 400, "challenger": 0.83, "champion": 0.85},
              TEST: {"rows": 1000, "challenger": 0.86, "champion": 0.84},
              BOTH: {"rows": 1400, "challenger": 0.85, "champion": 0.845}}  # fmt: skip
    deciding = {RECENT: "the newest 400 held-out production rows", BOTH: "those and the test"}
    # better on the old test split and overall, worse on the newest rows: not promoted
    d = decide_on_sets("roc_auc", ("3", "2"), scores, deciding, 0.0)
    assert (
        not d.promote and "does not beat champion 0.8500 by more than 0 on the newest" in d.reason
    )
    assert (d.challenger_score, d.champion_score, d.evaluation_rows) == (0.83, 0.85, 400)
    assert d.to_dict()["scores"][TEST]["challenger"] == 0.86


def test_noisy_newest_rows_alone_cannot_promote():
    """A challenger that wins on a few hundred (noisy) newest rows but loses with the test
    split is not promoted: it must win on both."""
    scores = {RECENT: {"rows": 300, "challenger": 0.55, "champion": 0.50},
              BOTH: {"rows": 1300, "challenger": 0.70, "champion": 0.75}}  # fmt: skip
    d = decide_on_sets("roc_auc", ("3", "2"), scores, {RECENT: "newest", BOTH: "both"}, 0.0)
    assert not d.promote
    assert (d.challenger_score, d.champion_score, d.evaluation_rows) == (0.70, 0.75, 1300)
    scores[BOTH]["challenger"] = 0.76
    assert decide_on_sets("roc_auc", ("3", "2"), scores, {RECENT: "n", BOTH: "b"}, 0.0).promote
    # no champion: promoted
    first = {BOTH: {"rows": 10, "challenger": 0.7, "champion": None}}
    assert decide_on_sets("roc_auc", ("1", None), first, {BOTH: "b"}, 0.0).promote
