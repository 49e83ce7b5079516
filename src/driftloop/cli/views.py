"""What each command prints: the jobs' results as Rich tables and lines.

Every function takes a result object and returns something a Rich console prints; nothing
here computes a result or talks to the store. ``status`` has its own module
(``status_view``), progress displays theirs (``progress_views``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from driftloop.core.gate import interval_text

if TYPE_CHECKING:  # the jobs import pandas and MLflow; --help must not
    from driftloop.core.drift_verdict import FeatureDrift
    from driftloop.events.model import Receipt
    from driftloop.jobs.demo import DemoResult
    from driftloop.jobs.detect import DetectResult
    from driftloop.jobs.evaluate import EvaluationResult
    from driftloop.jobs.prepare import PrepareResult
    from driftloop.jobs.reload import ReloadOutcome
    from driftloop.jobs.retrain import RetrainResult
    from driftloop.jobs.train import TrainResult


def error_line(message: str) -> str:
    """An error as the CLI prints it on stderr."""
    return f"[bold red]error:[/] {message}"


def metrics_table(title: str, metrics: dict[str, float]) -> Table:
    """A two-column table of metric values."""
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for k, v in metrics.items():
        table.add_row(k, f"{v:.4f}")
    return table


def prepare_view(result: PrepareResult) -> Group:
    """What cleaning did and how many rows each split holds."""
    c = result.cleaning
    table = Table(
        title=f"dataset {result.version} ({'written' if result.created else 'unchanged'})"
    )
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("rows read", str(c.rows_in))
    for col, n in c.blank_to_missing.items():
        table.add_row(f"blank -> missing: {col}", str(n))
    for col, n in c.invalid_to_missing.items():
        table.add_row(f"non-numeric -> missing: {col}", str(n))
    table.add_row("strings stripped", str(c.strings_stripped))
    table.add_row("duplicate rows dropped", str(c.duplicates_dropped))
    table.add_row("rows without target dropped", str(c.missing_target_dropped))
    for split, n in result.rows.items():
        table.add_row(f"rows in {split}", str(n))
    return Group(table, Text.from_markup(f"version [bold]{result.version}[/] at {result.uri}"))


def train_view(result: TrainResult, metric: str) -> Group:
    """Every candidate's validation scores, what was registered, whether it became champion."""
    table = Table(title=f"candidates on dataset {result.dataset_version} (validation split)")
    table.add_column("candidate")
    for m in result.candidates[0].metrics:
        table.add_column(m, justify="right")
    table.add_column("seconds", justify="right")
    for r in result.candidates:
        mark = " *" if r.name == result.best else ""
        table.add_row(r.name + mark, *(f"{v:.4f}" for v in r.metrics.values()), f"{r.seconds:.1f}")
    cmp = result.comparison
    registered = (
        f"registered [bold]{result.registered.name} v{result.registered.version}[/] "
        f"({result.best}); test {metric} {cmp['new_score']:.4f}"
    )
    if cmp.get("champion_version"):
        registered += f" vs champion v{cmp['champion_version']} {cmp['champion_score']:.4f}"
    outcome = (
        f"[green]alias champion -> v{result.registered.version}[/]"
        if result.promoted
        else f"[yellow]champion unchanged[/]: {cmp['reason']}"
    )
    return Group(table, Text.from_markup(registered), Text.from_markup(outcome))


def evaluate_view(result: EvaluationResult, written_to: str) -> Group:
    """The model's test-split metrics and where they were written."""
    title = (
        f"{result.model_name} v{result.version} on test split of {result.dataset_version} "
        f"({result.rows} rows)"
    )
    return Group(metrics_table(title, result.metrics), Text(f"metrics written to {written_to}"))


def _test_of(f: FeatureDrift) -> str:
    """The statistic, and in calibrated mode what decided: the exact test or the screen."""
    if f.test == "permutation" and f.p_value is not None:
        return f"{f.method}, permutation p {f.p_value:.2g} ({f.permutations} splits)"
    return f"{f.method}, screened out" if f.test == "screened out" else f.method


def detect_view(result: DetectResult) -> RenderableType:
    """Per-feature verdicts, the policy's reasons and the decision (or why nothing was checked)."""
    if result.summary is None:
        return Text.from_markup(f"[yellow]no check:[/] {result.reason}")
    assert result.window is not None and result.decision is not None
    table = Table(
        title=f"drift: {result.window.rows} rows vs reference of model "
        f"v{result.model_version} (report {result.report_id})"
    )
    for col in ("feature", "test", "score", "threshold", "missing ref/cur", "verdict"):
        table.add_column(col, justify="right" if col in ("score", "threshold") else "left")
    for f in result.summary.features:
        verdict = ("[red]drift[/] (" + ", ".join(f.signals) + ")") if f.drifted else "ok"
        table.add_row(
            f.feature,
            _test_of(f),
            "-" if f.score is None else f"{f.score:.4f}",
            f"{f.threshold:g}",
            f"{f.missing_share_ref:.0%}/{f.missing_share_cur:.0%}",
            verdict,
        )
    prediction = result.summary.prediction
    if prediction is not None:
        table.add_row(
            "(model output)", prediction.method,
            "-" if prediction.score is None else f"{prediction.score:.4f}",
            f"{prediction.threshold:g}", "", "[red]drift[/]" if prediction.drifted else "ok",
        )  # fmt: skip
    lines: list[RenderableType] = [
        table,
        Text(
            f"mode: {result.summary.mode} (which threshold decided each feature; calibrated: "
            "a feature near its threshold is decided by an exact permutation test)"
            if result.summary.mode == "calibrated"
            else f"mode: {result.summary.mode} (which threshold decided each feature)"
        ),
    ]
    lines += [Text(f"  - {reason}") for reason in result.decision.reasons]
    lines.append(
        Text.from_markup(
            f"[bold red]decision: retrain[/] ({', '.join(result.decision.triggered_by)})"
            if result.retrain
            else "[bold green]decision: no retrain[/]"
        )
    )
    if result.report_uri:
        lines.append(Text(f"report: {result.report_uri}"))
    return Group(*lines)


def receipt_line(event_id: str, receipt: Receipt) -> str:
    """One line for a sent event: its id, what became of it, why."""
    return f"event {event_id}: {receipt.status} ({receipt.reason})"


def retrain_view(result: RetrainResult) -> Table:
    """A retrain's outcome: versions, gate scores, rows used."""
    table = Table(title=f"retrain {result.retrain_id}: {result.status}")
    table.add_column("what")
    table.add_column("value")
    gate = result.gate or {}
    rows = [
        ("reason", result.reason),
        ("champion", f"v{result.champion_version}" if result.champion_version else "-"),
        ("challenger", f"v{result.challenger_version}" if result.challenger_version else "-"),
        ("dataset", str(result.dataset_version or "-")),
    ]
    if gate:
        rows += [
            (f"champion {gate['metric']}", f"{gate['champion_score']:.4f}"),
            (f"challenger {gate['metric']}", f"{gate['challenger_score']:.4f}"),
            ("evaluation rows", str(gate["evaluation_rows"])),
        ]
        if interval := gate.get("interval"):
            rows.append(("improvement (paired bootstrap)", interval_text(interval)))
        if gate.get("rule"):
            rows.append(("gate rule", gate["rule"]))
    rows += [(f"rows {k}", str(v)) for k, v in result.rows.items()]
    for k, v in rows:
        table.add_row(k, v)
    return table


def reload_line(outcome: ReloadOutcome) -> str:
    """What one server did: the API's swap (or not), MLServer's re-load."""
    from driftloop.jobs.reload import MLServerReloadResult

    result = outcome.result
    assert result is not None, outcome.error
    if isinstance(result, MLServerReloadResult):
        return f"[green]MLServer reloaded[/] {result.model_name} at {result.url}: ready"
    if result.changed:
        return f"[green]reloaded[/]: v{result.previous_version} -> v{result.serving_version}"
    return f"unchanged: serving v{result.serving_version}"


def demo_summary_view(result: DemoResult) -> Group:
    """The closing table: what happened, timings, where to look."""
    table = Table(title="what happened")
    table.add_column("step")
    table.add_column("s", justify="right")
    table.add_column("outcome")
    for s in result.steps:
        table.add_row(s.name, f"{s.seconds:.1f}", s.detail if s.status == "done" else s.status)
    f = result.facts
    lines: list[Any] = [
        Text(
            f"loop closed: {'yes' if result.closed else 'NO'} in {f['total_seconds']:.0f} s",
            style="bold green" if result.closed else "bold red",
        ),
    ]
    if "error" in f:
        lines.append(Text(f"error: {f['error']}", style="red"))
    for key, label in (
        ("report_normal", "report, normal traffic"),
        ("report_drift", "report, drifted traffic"),
    ):
        if f.get(key):
            lines.append(Text(f"{label}: {f[key]}"))
    db = result.state_dir / "mlflow.db"
    lines.append(
        Text(
            f"MLflow: uv run mlflow ui --backend-store-uri sqlite:///{db} "
            "--port 5000  (then http://127.0.0.1:5000)"
        )
    )
    lines.append(Text(f"logs: {result.state_dir}/logs"))
    return Group(table, *lines)
