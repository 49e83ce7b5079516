"""The Evidently HTML of a report written without it: rendered from the rows the check kept
(``window.parquet``) and the reference of its dataset version, then stored beside it.
The in-server monitor does this in the background for drifted windows; ``GET
/reports/{id}`` does it on demand for the rest."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from driftloop.adapters.datasets import open_dataset
from driftloop.adapters.reports import read_report, read_report_window, write_report_html
from driftloop.adapters.store import ObjectStore
from driftloop.config.errors import NotFoundError
from driftloop.config.spec import DatasetSpec


def render_evidently(
    spec: DatasetSpec,
    frames: tuple[pd.DataFrame, pd.DataFrame],
    mode: str,
    thresholds: dict[str, float],
) -> Any:
    """Evidently's report on (reference, current) with driftloop's methods and thresholds,
    noting the mode the verdicts were decided in."""
    from driftloop.adapters.evidently_report import render_drift_report

    note = (f"driftloop decided in {mode} mode: "
            + (f"per-feature thresholds screen at this window size, and a feature near its "
               f"threshold drifts only if an exact permutation test of this window gives p <= "
               f"alpha={spec.drift.alpha:g} (effect floor {spec.drift.min_effect:g}); the "
               f"threshold shown for such a feature is set to reproduce that verdict"
               if mode == "calibrated"
               else f"one fixed threshold {spec.drift.threshold:g}"))  # fmt: skip
    return render_drift_report(*frames, spec.numeric_features, spec.categorical_features,
                               spec.drift.threshold, thresholds=thresholds, note=note)  # fmt: skip


def verdict_cuts(
    features: Iterable[Mapping[str, Any]], thresholds: Mapping[str, float]
) -> dict[str, float]:
    """Per-feature thresholds for Evidently that reproduce driftloop's verdicts: the
    calibrated one, except where a permutation test decided against it (a feature over its
    threshold the test did not confirm gets one just over its score; one the test confirmed
    under it gets its score)."""
    cuts = dict(thresholds)
    for f in features:
        name, score = str(f["feature"]), f.get("score")
        if name not in cuts or f.get("test") != "permutation" or score is None:
            continue
        if f.get("distribution_drifted"):
            cuts[name] = min(cuts[name], float(score))
        elif float(score) >= cuts[name]:
            cuts[name] = float(np.nextafter(float(score), np.inf))
    return cuts


def render_html(
    store: ObjectStore,
    spec: DatasetSpec,
    report_id: str,
    frames: tuple[pd.DataFrame, pd.DataFrame],
    summary: dict[str, Any],
) -> bytes:
    """Render a report's HTML from its frames and its summary (mode, thresholds); store it."""
    calibration = summary.get("calibration") or {}
    thresholds = verdict_cuts(
        (summary.get("summary") or {}).get("features") or [],
        {k: float(v["threshold"]) for k, v in (calibration.get("thresholds") or {}).items()},
    )
    mode = str(calibration.get("mode") or spec.drift.mode)
    rendered = render_evidently(spec, frames, mode, thresholds)
    write_report_html(store, report_id, rendered.html)
    return bytes(rendered.html)


def render_stored(store: ObjectStore, spec: DatasetSpec, report_id: str) -> bytes:
    """Render the HTML of a stored report from its kept rows; NotFoundError when the report
    kept none (``--no-report``, or a streamed window)."""
    summary = read_report(store, report_id)
    dataset_version = summary.get("dataset_version")
    if not dataset_version:
        raise NotFoundError(f"report {report_id} names no dataset version")
    current = read_report_window(store, report_id)
    reference = open_dataset(store, str(dataset_version)).frame("reference")
    return render_html(store, spec, report_id, (reference, current), summary)
