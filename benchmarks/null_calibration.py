"""Do calibrated feature tests hold alpha when the reference is itself a sample?

A population like the replay's ``highcard-stationary`` shop data (``spend`` gamma in whole
units, ``channel`` with 3 levels, ``store`` with 200 Zipf levels and a long tail);
``--references`` references of ``--reference-rows`` rows drawn from it; for each, ``--windows``
windows drawn from the population (no drift), checked exactly as ``detect`` checks them
(``PreparedReference.compare``, then ``core.drift_confirm.confirm_drift``). Prints, for the
old rule (the cached null's threshold, its tail p-values for Holm) and the new one (that null
screens, an exact permutation test of the window decides), each feature's false-flag rate
averaged over references at alpha 0.01 and 0.05 with its standard error (over references),
the false retrains of Holm's rule at ``retrain_alpha``, the time of a check, the rate at which
a ``spend`` shift of the replay's sizes (``telco-shift``: the full shift; ``gradual``'s first
step: a tenth of it) is flagged and retrains, and the time of one calibration.

    uv run --frozen python benchmarks/null_calibration.py [--window-rows 400 1000]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from driftloop.config.spec import load_spec
from driftloop.core.drift_confirm import ConfirmSettings, confirm_drift
from driftloop.core.drift_reference import prepare_reference
from driftloop.core.drift_verdict import DriftSummary
from driftloop.core.feature_family import holm_rejected
from driftloop.core.null_thresholds import CalibrationSettings, calibrate_thresholds, p_values
from driftloop.core.simulate import SHIFT_FACTOR, SHIFT_RANGE_SHARE, gradual_intensity
from driftloop.jobs.detect_signals import as_calibration

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


def draw_window(
    rng: np.random.Generator, reference: pd.DataFrame, rows: int, shift: float
) -> pd.DataFrame:
    """A population window of ``rows`` rows, ``spend`` shifted like ``core.simulate`` at
    intensity ``shift`` (0: no drift)."""
    window = draw_reference(rng, rows)
    spend = reference["spend"].to_numpy()
    span = float(spend.max() - spend.min())
    factor, offset = 1 + (SHIFT_FACTOR - 1) * shift, SHIFT_RANGE_SHARE * span * shift
    window["spend"] = window["spend"] * factor + offset
    return window


def counted(summary: DriftSummary, p: dict[str, float], retrain_alpha: float) -> bool:
    """Whether Holm's rule at ``retrain_alpha`` counts a feature for a retrain (as
    ``core.policy`` does: flagged and kept by Holm)."""
    held = set(holm_rejected(p, retrain_alpha))
    return any(f.distribution_drifted and f.feature in held for f in summary.features)


RULES = ("old", "new")


def flag_rates(
    references: int,
    reference_rows: int,
    window_rows: int,
    windows: int,
    alpha: float,
    retrain_alpha: float = 0.001,
    shift: float = 0.0,
    seed: int = 0,
) -> dict[str, dict[str, np.ndarray]]:
    """Per rule (``old``: the cached threshold and its tail p-values; ``new``: the screen and
    the exact test, ``core.drift_confirm.confirm_drift`` as ``detect`` runs it), each
    feature's flag rate per reference, and ``retrain`` (windows where Holm's rule at
    ``retrain_alpha`` counts a feature); ``seconds`` per window check."""
    rng = np.random.default_rng(seed)
    names = (*FEATURES, "retrain", "seconds")
    out = {rule: {n: np.zeros(references) for n in names} for rule in RULES}
    confirm = ConfirmSettings(alpha, retrain_alpha, 0.0)
    for i in range(references):
        reference = draw_reference(rng, reference_rows)
        settings = CalibrationSettings(alpha, 0.0, draws=500, min_category_rows=10, seed=i)
        found = calibrate_thresholds(reference, ["spend"], ["store", "channel"], window_rows,
                                     settings)  # fmt: skip
        prepared = prepare_reference(reference, ["spend"], ["store", "channel"], 0.1,
                                     as_calibration(found), min_category_rows=10)  # fmt: skip
        for _ in range(windows):
            window = draw_window(rng, reference, window_rows, shift)
            start = time.perf_counter()
            old = prepared.compare(window)
            old_p = p_values(found, {f.feature: f.score for f in old.features})
            middle = time.perf_counter()
            new, new_p = confirm_drift(old, prepared, window, found, confirm)
            out["old"]["seconds"][i] += (middle - start) / windows
            out["new"]["seconds"][i] += (time.perf_counter() - start) / windows
            for rule, summary, p in (("old", old, old_p), ("new", new, new_p)):
                for f in summary.features:
                    out[rule][f.feature][i] += f.distribution_drifted / windows
                out[rule]["retrain"][i] += counted(summary, p, retrain_alpha) / windows
    return out


def mean_se(rates: np.ndarray) -> str:
    """Mean over references and its standard error (references differ: windows of one
    reference are not independent)."""
    se = rates.std(ddof=1) / np.sqrt(len(rates)) if len(rates) > 1 else float("nan")
    return f"{rates.mean():.4f} (se {se:.4f})"


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
    parser.add_argument("--references", type=int, default=20)
    parser.add_argument("--reference-rows", type=int, default=5000)
    parser.add_argument("--windows", type=int, default=250)
    parser.add_argument("--window-rows", type=int, nargs="+", default=[400, 1000])
    parser.add_argument("--power-references", type=int, default=5)
    parser.add_argument("--power-windows", type=int, default=100)
    args = parser.parse_args()
    for rows in args.window_rows:
        for alpha in (0.01, 0.05):
            r = flag_rates(args.references, args.reference_rows, rows, args.windows, alpha)
            for rule in RULES:
                print(f"m={rows} {rule} alpha {alpha}: " + ", ".join(
                    f"{k} {mean_se(r[rule][k])}" for k in (*FEATURES, "retrain"))
                    + f"; {r[rule]['seconds'].mean() * 1000:.1f} ms/check", flush=True)  # fmt: skip
        for shift in (1.0, gradual_intensity(1)):
            r = flag_rates(args.power_references, args.reference_rows, rows,
                           args.power_windows, 0.01, shift=shift)  # fmt: skip
            for rule in RULES:
                print(f"m={rows} {rule} spend shift x{shift}: flagged "
                      f"{r[rule]['spend'].mean():.3f}, retrain {r[rule]['retrain'].mean():.3f}, "
                      f"{r[rule]['seconds'].mean() * 1000:.1f} ms/check", flush=True)  # fmt: skip
        secs = {k: round(v, 3) for k, v in calibration_seconds(rows).items()}
        print(f"m={rows} calibration s: {secs}", flush=True)


if __name__ == "__main__":
    main()
