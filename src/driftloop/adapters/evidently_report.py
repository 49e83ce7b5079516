"""Evidently 0.7 drift reports: the only module that imports evidently.

The verdicts that drive retraining come from :mod:`driftloop.core.drift_reference`; this module
renders the HTML/JSON report people look at, configured with the *same* method per column
(normed Wasserstein or Jensen-Shannon, whatever the reference size) and the same threshold, so
the report and the decision agree. ``import evidently`` takes seconds, so it happens inside the
functions here and never on an import path.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from driftloop.core.drift_reference import compute_drift

# Evidently names a method by its display name when it picked the method itself.
_METHOD_NAMES = {
    "Wasserstein distance (normed)": "wasserstein",
    "Jensen-Shannon distance": "jensenshannon",
    "K-S p_value": "ks",
    "chi-square p_value": "chisquare",
    "Z-test p_value": "z",
}
_VALUE_DRIFT = "evidently:metric_v2:ValueDrift"


@dataclass(frozen=True)
class DriftReport:
    """A rendered Evidently drift report and its per-column verdicts.

    When a side had more than ``max_rows`` rows the report was computed on a random sample
    (``sampled``); ``rows_*_used`` say how many rows went in. ``skipped_columns`` had no
    non-missing values on a side, which Evidently cannot test.
    """

    html: bytes
    json: dict[str, Any]
    evidently_columns: dict[str, dict[str, Any]]
    rows_reference: int
    rows_current: int
    rows_reference_used: int
    rows_current_used: int
    sampled: bool
    skipped_columns: tuple[str, ...]


def render_drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    threshold: float,
    *,
    methods: Mapping[str, str] | None = None,
    max_rows: int = 50_000,
    seed: int = 0,
    drift_share: float = 0.5,
    thresholds: Mapping[str, float] | None = None,
    note: str | None = None,
) -> DriftReport:
    """Run an Evidently ``DataDriftPreset`` with driftloop's methods and threshold.

    ``methods`` maps each feature to ``"wasserstein"`` or ``"jensenshannon"``; by default they
    are the ones :func:`compute_drift` picks on the full data. Each side is sampled down to
    ``max_rows`` rows (with ``seed``) before Evidently sees it. ``thresholds`` overrides
    ``threshold`` per column (the calibrated mode); ``note`` is shown above the report (which
    mode decided).
    """
    if max_rows <= 0:
        raise ValueError(f"max_rows must be > 0, got {max_rows}")
    if methods is None:
        methods = _methods_of(reference, current, numeric, categorical, threshold)
    ref_used = _sample(reference, max_rows, seed)
    cur_used = _sample(current, max_rows, seed + 1)
    snapshot, skipped = _run(
        ref_used, cur_used, numeric, categorical, threshold, methods, drift_share, thresholds
    )
    sampled = len(ref_used) < len(reference) or len(cur_used) < len(current)
    payload = json.loads(snapshot.json())
    payload["sampling"] = {
        "sampled": sampled,
        "max_rows": max_rows,
        "seed": seed,
        "rows_reference": len(reference),
        "rows_current": len(current),
        "rows_reference_used": len(ref_used),
        "rows_current_used": len(cur_used),
    }
    payload["skipped_columns"] = list(skipped)
    return DriftReport(
        html=_with_note(snapshot.get_html_str(as_iframe=False), note).encode("utf-8"),
        json=payload,
        evidently_columns=_column_verdicts(payload),
        rows_reference=len(reference),
        rows_current=len(current),
        rows_reference_used=len(ref_used),
        rows_current_used=len(cur_used),
        sampled=sampled,
        skipped_columns=skipped,
    )


def evidently_drift_verdicts(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    threshold: float | None = None,
    *,
    methods: Mapping[str, str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Evidently's own per-column verdicts on the full data: feature -> method, score, ...

    With neither ``threshold`` nor ``methods`` this is a plain ``DataDriftPreset()`` run,
    Evidently's defaults (which depend on the reference size); otherwise the given methods
    and threshold are used, as in :func:`render_drift_report`.
    """
    snapshot, _ = _run(reference, current, numeric, categorical, threshold, methods, 0.5)
    return _column_verdicts(json.loads(snapshot.json()))


def _methods_of(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    threshold: float,
) -> dict[str, str]:
    summary = compute_drift(reference, current, numeric, categorical, threshold)
    return {f.feature: f.method for f in summary.features}


def _sample(frame: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    if len(frame) <= max_rows:
        return frame
    return frame.sample(n=max_rows, random_state=seed)


def _testable(frame: pd.DataFrame, column: str) -> bool:
    values = frame[column]
    if values.dtype.kind == "f":
        values = values.replace([float("inf"), float("-inf")], float("nan"))
    return bool(values.notna().any())


def _run(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    threshold: float | None,
    methods: Mapping[str, str] | None,
    drift_share: float,
    thresholds: Mapping[str, float] | None = None,
) -> tuple[Any, tuple[str, ...]]:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    wanted = [*numeric, *categorical]
    absent = [c for c in wanted if c not in reference.columns or c not in current.columns]
    if absent:
        raise ValueError(f"columns absent from the reference or current data: {absent}")
    # Evidently raises on a column with no values on a side; drift_reference reports those as a
    # jump in missing share instead, so leave them out of the report.
    skipped = tuple(c for c in wanted if not (_testable(reference, c) and _testable(current, c)))
    num = [c for c in numeric if c not in skipped]
    cat = [c for c in categorical if c not in skipped]
    definition = DataDefinition(numerical_columns=num, categorical_columns=cat)
    preset_args: dict[str, Any] = {"drift_share": drift_share}
    if threshold is not None:
        preset_args["threshold"] = threshold
    if methods is not None:
        preset_args["per_column_method"] = {c: methods[c] for c in num + cat if c in methods}
    if thresholds:
        preset_args["per_column_threshold"] = {
            c: float(thresholds[c]) for c in num + cat if c in thresholds
        }
    report = Report([DataDriftPreset(**preset_args)], include_tests=True)
    # Evidently's run() takes current first: keywords keep the two from being swapped.
    snapshot = report.run(
        current_data=Dataset.from_pandas(_only(current, num + cat), data_definition=definition),
        reference_data=Dataset.from_pandas(_only(reference, num + cat), data_definition=definition),
    )
    return snapshot, skipped


def _with_note(page: str, note: str | None) -> str:
    """The page with a short escaped note at the top of its body."""
    if not note:
        return page
    from html import escape

    banner = (f'<div style="font:14px sans-serif;padding:8px 12px;background:#eef3fb">'
              f"{escape(note)}</div>")  # fmt: skip
    at = page.find("<body")
    end = page.find(">", at) + 1 if at >= 0 else 0
    return page[:end] + banner + page[end:]


def _only(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    # Selecting columns copies them; skip that (memory on large frames) when nothing is dropped.
    return frame if list(frame.columns) == columns else frame[columns]


def _column_verdicts(payload: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    failed = {
        t["metric_config"]["metric_id"]
        for t in payload.get("tests", [])
        if t.get("status") == "FAIL" and t.get("id") == "drift"
    }
    out: dict[str, dict[str, Any]] = {}
    for metric in payload["metrics"]:
        config = metric["config"]
        if config.get("type") != _VALUE_DRIFT:
            continue
        method = str(config.get("method"))
        score = float(metric["value"])
        threshold = float(config["threshold"])
        out[config["column"]] = {
            "method": _METHOD_NAMES.get(method, method),
            "score": score,
            "threshold": threshold,
            "drifted": metric["id"] in failed,
        }
    return out
