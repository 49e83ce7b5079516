"""``driftloop init``: look at a data file, write a commented spec that prepare and train take."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from driftloop.config.errors import InputError
from driftloop.config.spec import DatasetSpec
from driftloop.config.spec_yaml import CommentedKey, render_commented_yaml
from driftloop.core.spec_inference import SpecInference, TaskChoice, infer_spec
from driftloop.jobs.prepare import read_source


@dataclass(frozen=True)
class InitResult:
    """The written spec and what was inferred."""

    path: Path
    inference: SpecInference
    spec: DatasetSpec


def _entries(inf: SpecInference) -> list[CommentedKey]:
    s, why = inf.spec, inf.reasons
    beside = {c.name: c.reason for c in inf.columns}
    for name, share in inf.importances.items():
        beside[name] = f"{beside[name]}; importance {share:.1%}"
    comments = {
        "name": "Data set name (from the file name).",
        "source": "The data file, relative to this spec's folder.",
        "task": why["task"],
        "target": "The column to predict.",
        "positive_class": "Target value that counts as positive (the minority class).",
        "numeric_features": "Numbers: missing values imputed with the median, then scaled.",
        "categorical_features": "Categories: one-hot encoded; values unseen in training "
        "are ignored (and counted in /metrics as a drift signal).",
        "drop_columns": why["drop_columns"],
        "split": "Train / validation / test shares; the reference for drift is sampled "
        "from the training rows.",
        "metric": why["metric"],
        "threshold": why.get("threshold", ""),
        "candidates": why["candidates"],
        "drift": why["drift"],
    }
    listed = {"numeric_features", "categorical_features", "drop_columns"}
    return [
        CommentedKey(k, v, comments.get(k, ""), beside if k in listed else {}) for k, v in s.items()
    ]


def _dataset_name(path: Path) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-") or "dataset"


def init_spec(
    data: Path, target: str, out: Path, task: TaskChoice | None = None, force: bool = False
) -> InitResult:
    """Infer a spec from ``data`` and write it to ``out`` (refused if it exists, unless forced)."""
    out = Path(out)
    if out.exists() and not force:
        raise InputError(f"{out} already exists; pass --force to overwrite it")
    frame, _ = read_source(Path(data))
    source = os.path.relpath(Path(data).resolve(), out.parent.resolve())
    inference = infer_spec(frame, target, _dataset_name(Path(data)), source, task)
    header = (
        f"Spec written by `driftloop init` from {Path(data).name} ({len(frame)} rows, "
        f"{len(frame.columns)} columns). Every choice is explained beside it: edit freely.\n"
        f"Next: driftloop prepare --spec {out} && driftloop train --spec {out}"
    )
    text = render_commented_yaml(header, _entries(inference))
    spec = DatasetSpec.model_validate(inference.spec)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return InitResult(out, inference, spec)
