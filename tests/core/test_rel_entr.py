"""driftloop's numpy ``rel_entr`` (so a drift check does not import scipy) gives scipy's
values on Jensen-Shannon mixtures, zeros on either side included."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import rel_entr as scipy_rel_entr

from driftloop.core.drift_distance import rel_entr


@pytest.mark.parametrize("seed", range(5))
def test_rel_entr_matches_scipy_on_mixtures(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p, q = rng.random((2, 8, 50))
    p[p < 0.3], q[q < 0.5] = 0.0, 0.0
    p, q = p / p.sum(axis=1, keepdims=True), q / q.sum(axis=1, keepdims=True)
    m = (p + q) / 2.0
    for x in (p, q):
        np.testing.assert_allclose(rel_entr(x, m), scipy_rel_entr(x, m), rtol=1e-12, atol=0)
    assert (rel_entr(p, m)[p == 0] == 0).all()
