"""Do calibrated feature tests hold alpha when the reference is itself a sample?

A population like the replay's ``highcard-stationary`` shop data (``spend`` gamma in whole
units, ``channel`` with 3 levels, ``store`` with 200 Zipf levels and a long tail);
``--references`` references of ``--reference-rows`` rows drawn from it; for each, ``--windows``
windows drawn from the population (no drift), scored exactly as ``detect`` scores them. Prints,
for the current null (``core.null_thresholds.null_counts``) and the one before (both sides
resampled from the reference), each feature's false-flag rate averaged over references at alpha
0.01 and 0.05, the false retrains of Holm's rule at ``retrain_alpha``, the rate at which a
``spend`` shift of the replay's sizes (``telco-shift``: the full shift; ``gradual``'s first
step: a tenth of it) is flagged, and the time of one calibration.

    uv run --frozen python benchmarks/null_calibration.py [--window-rows 400 1000]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from driftloop.config.spec import load_spec
from driftloop.core import null_thresholds
from driftloop.core.drift_distance import pool_rare, wasserstein_normed
from driftloop.core.feature_family import holm_rejected
from driftloop.core.null_thresholds import CalibrationSettings, calibrate_thresholds, js_rows
from driftloop.core.simulate import SHIFT_FACTOR, SHIFT_RANGE_SHARE, gradual_intensity

ROOT = Path(__file__).resolve().parent.parent
LEVELS = 200
_ZIPF = 1.0 / np.arange(1, LEVELS + 1) ** 0.8
STORES = np.array([f"s{i:03d}" for i in range(LEVELS)], dtype=object)
STORE_SHARES = _ZIPF / _ZIPF.sum()
CHANNELS = np.array(["web", "app", "phone"], dtype=object)
CHANNEL_SHARES = np.array([0.5, 0.4, 0.1])
CATEGORICAL = {"store": (STORES, STORE_SHARES), "channel": (CHANNELS, CHANNEL_SHARES)}
FEATURES = ("spend", "store", "channel")


def draw_reference(rng: np.random.Generator, rows: int) -> pd.DataFrame:
    """A reference sample of the population."""
    return pd.DataFrame({
        "spend": np.round(rng.gamma(2.0, 30.0, rows)),
        "store": rng.choice(STORES, rows, p=STORE_SHARES),
        "channel": rng.choice(CHANNELS, rows, p=CHANNEL_SHARES),
    })  # fmt: skip


def window_scores(
    reference: pd.DataFrame, rng: np.random.Generator, rows: int, windows: int, shift: float
) -> dict[str, np.ndarray]:
    """Each feature's drift score on ``windows`` population windows of ``rows`` rows, as the
    check computes it (categories pooled by the reference's rare levels); ``spend`` shifted
    like ``core.simulate`` at intensity ``shift``."""
    out: dict[str, np.ndarray] = {}
    for name, (levels, shares) in CATEGORICAL.items():
        ref = reference[name].value_counts().reindex(levels, fill_value=0).to_numpy(float)
        cur = rng.multinomial(rows, shares, size=windows).astype(np.float64)
        pooled = [pool_rare(ref, row, 10) for row in cur]
        out[name] = js_rows(np.stack([p[0] for p in pooled]), np.stack([p[1] for p in pooled]))
    spend = reference["spend"].to_numpy()
    span = float(spend.max() - spend.min())
    factor, offset = 1 + (SHIFT_FACTOR - 1) * shift, SHIFT_RANGE_SHARE * span * shift
    out["spend"] = np.array([
        wasserstein_normed(spend, np.round(rng.gamma(2.0, 30.0, rows)) * factor + offset)
        for _ in range(windows)
    ])  # fmt: skip
    return out


def reference_only_counts(
    ref_counts: np.ndarray, window_rows: int, draws: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The null before NULL_METHOD 2: pseudo reference and pseudo window both drawn from the
    reference's shares."""
    n_ref = int(ref_counts.sum())
    p = ref_counts / n_ref
    return (rng.multinomial(n_ref, p, size=draws).astype(np.float64),
            rng.multinomial(window_rows, p, size=draws).astype(np.float64))  # fmt: skip


@contextmanager
def null_of(counts: Callable[..., tuple[np.ndarray, np.ndarray]] | None) -> Iterator[None]:
    """Calibrate with another null's count draws inside the block (None: the current one)."""
    current = null_thresholds.null_counts
    null_thresholds.null_counts = counts or current
    try:
        yield
    finally:
        null_thresholds.null_counts = current


def flag_rates(
    references: int,
    reference_rows: int,
    window_rows: int,
    windows: int,
    alpha: float,
    retrain_alpha: float = 0.001,
    shift: float = 0.0,
    seed: int = 0,
) -> dict[str, float]:
    """Per-feature flag rates averaged over references, ``all`` (every feature x window) and
    ``retrain`` (windows where Holm's rule at ``retrain_alpha`` keeps a feature)."""
    rng = np.random.default_rng(seed)
    flags = {name: 0.0 for name in (*FEATURES, "retrain")}
    for i in range(references):
        reference = draw_reference(rng, reference_rows)
        settings = CalibrationSettings(alpha, 0.0, draws=500, min_category_rows=10, seed=i)
        found = calibrate_thresholds(reference, ["spend"], ["store", "channel"], window_rows,
                                     settings)  # fmt: skip
        scores = window_scores(reference, rng, window_rows, windows, shift)
        for name in FEATURES:
            flags[name] += float((scores[name] > found[name].threshold).mean())
        for w in range(windows):
            p = {n: found[n].p_value(float(scores[n][w])) or 1.0 for n in FEATURES}
            flags["retrain"] += bool(holm_rejected(p, retrain_alpha)) / windows
    rates = {k: v / references for k, v in flags.items()}
    rates["all"] = float(np.mean([rates[n] for n in FEATURES]))
    return rates


def calibration_seconds(window_rows: int) -> dict[str, float]:
    """Seconds of one calibration of telco's features and of a 200-level feature."""
    spec = load_spec(ROOT / "configs" / "telco.yaml")
    telco = pd.read_csv(ROOT / "data" / "telco_churn.csv").head(5000)
    shop = draw_reference(np.random.default_rng(0), 5000)
    settings = CalibrationSettings(0.01, 0.05, 500, 10)
    out = {}
    for label, frame, num, cat in (
        ("telco", telco, list(spec.numeric_features), list(spec.categorical_features)),
        ("store", shop, [], ["store"]),
    ):
        start = time.perf_counter()
        calibrate_thresholds(frame, num, cat, window_rows, settings)
        out[label] = time.perf_counter() - start
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--references", type=int, default=40)
    parser.add_argument("--reference-rows", type=int, default=5000)
    parser.add_argument("--windows", type=int, default=500)
    parser.add_argument("--window-rows", type=int, nargs="+", default=[400, 1000])
    args = parser.parse_args()
    for rows in args.window_rows:
        for label, counts in (("before", reference_only_counts), ("now", None)):
            with null_of(counts):
                for alpha in (0.01, 0.05):
                    r = flag_rates(args.references, args.reference_rows, rows, args.windows, alpha)
                    print(f"m={rows} {label:6} alpha {alpha}: " + ", ".join(
                        f"{k} {v:.4f}" for k, v in r.items()), flush=True)  # fmt: skip
                for shift in (1.0, gradual_intensity(1)):
                    r = flag_rates(5, args.reference_rows, rows, 200, 0.01, shift=shift)
                    print(f"m={rows} {label:6} spend shift x{shift}: flagged {r['spend']:.3f}, "
                          f"retrain {r['retrain']:.3f}", flush=True)  # fmt: skip
                secs = {k: round(v, 3) for k, v in calibration_seconds(rows).items()}
                print(f"m={rows} {label:6} calibration s: {secs}", flush=True)


if __name__ == "__main__":
    main()
