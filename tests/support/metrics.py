"""One reader of the Prometheus text exposition (what ``GET /metrics`` returns).

It raises, naming the metric and listing what the exposition has, when the metric is not
there: a renamed metric must fail the test that reads it, not read as 0 and pass an
``== 0`` assert. The one value that reads 0 without a sample is a counter or histogram
series whose family is declared but whose labels have not been seen yet (prometheus_client
exports a labelled series only once it has been incremented; counters start at 0).
"""

from __future__ import annotations

from typing import Any

SAMPLE_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_count", "_sum"),
    "summary": ("", "_count", "_sum"),
}
"""The sample names of a family by its type (a gauge's, an info's: the family name)."""


class MetricMissing(LookupError):
    """The exposition has no such metric, or no sample with those labels."""


def metric(text: str, name: str, **labels: str) -> float:
    """The value of sample ``name`` (e.g. ``driftloop_predictions_total``) whose labels include
    ``labels``, summed over the samples that match (a label left out is summed over)."""
    from prometheus_client.parser import text_string_to_metric_families

    families = list(text_string_to_metric_families(text))
    family = next((f for f in families if name in _sample_names(f)), None)
    if family is None:
        known = sorted({s.name for f in families for s in f.samples} | {f.name for f in families})
        raise MetricMissing(f"no metric {name!r} in the exposition; it has: {', '.join(known)}")
    samples = [s for s in family.samples if s.name == name]
    label_names = {k for s in samples for k in s.labels}
    if samples and not set(labels) <= label_names:
        unknown = sorted(set(labels) - label_names)
        raise MetricMissing(f"{name} has no label {', '.join(unknown)}; "
                            f"its labels: {', '.join(sorted(label_names)) or 'none'}")  # fmt: skip
    matching = [s.value for s in samples if _has(s.labels, labels)]
    if matching:
        return float(sum(matching))
    if family.type in SAMPLE_SUFFIXES and labels:
        return 0.0  # a declared series not incremented yet
    seen = "; ".join(_show(s.labels) for s in samples) or "no samples"
    raise MetricMissing(f"no sample of {name} with {_show(labels)}; it has: {seen}")


def _sample_names(family: Any) -> set[str]:
    return {family.name + s for s in SAMPLE_SUFFIXES.get(family.type, ("",))}


def _has(sample: dict[str, Any], wanted: dict[str, str]) -> bool:
    return all(sample.get(k) == str(v) for k, v in wanted.items())


def _show(labels: dict[str, Any]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
