"""Tree ensembles as flat node arrays, walked one level at a time for all trees at once.

scikit-learn's own ``predict_proba`` on a forest pays for input validation and a thread pool
on every call (tens of milliseconds for one row); the serving fast path walks these arrays
instead. ``verify_compiled`` in ``encoder`` checks the result against the pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from driftloop.config.errors import UnsupportedPipelineError

_FOREST_CHUNK_ROWS = 2048  # bounds the (rows x trees) node arrays of one forest walk


@dataclass(frozen=True)
class _FlatForest:
    """All trees of an ensemble in shared node arrays, walked one level at a time for all trees.

    Nodes are renumbered so that a node's right child directly follows its left child: one
    gather and one add move every tree down a level. A leaf is its own "left child" with an
    infinite threshold, so walking ``depth`` levels lands every tree on its leaf.
    """

    roots: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    missing_right: np.ndarray  # where NaN goes; False for leaves
    first_child: np.ndarray
    value: np.ndarray
    depth: int
    float32_input: bool  # sklearn's trees compare a float32 copy of X with float64 thresholds

    def leaf_values(self, X: np.ndarray) -> np.ndarray:
        if self.float32_input:
            X = X.astype(np.float32)
        has_nan = bool(np.isnan(X).any())
        flat = X.ravel()
        node = np.broadcast_to(self.roots, (X.shape[0], len(self.roots)))
        base = None
        if X.shape[0] > 1:  # one row (the per-request case) needs no row offsets
            base = (np.arange(X.shape[0]) * X.shape[1])[:, None]
        for _ in range(self.depth):
            column = self.feature[node]
            if base is not None:
                column += base
            x = flat[column]
            go_right = x > self.threshold[node]
            if has_nan:
                go_right = np.where(np.isnan(x), self.missing_right[node], go_right)
            node = self.first_child[node] + go_right
        return self.value[node]

    def total(self, X: np.ndarray) -> np.ndarray:
        """Sum of leaf values over trees per row, in chunks to bound memory."""
        parts = [
            self.leaf_values(X[i : i + _FOREST_CHUNK_ROWS]).sum(axis=1)
            for i in range(0, X.shape[0], _FOREST_CHUNK_ROWS)
        ]
        return np.concatenate(parts) if parts else np.zeros(0)


def _children_adjacent(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Node order (root first) in which every right child follows its left child."""
    order = [0]
    for node in order:  # grows while iterating: a breadth-first walk
        if left[node] >= 0:
            order += (int(left[node]), int(right[node]))
    return np.asarray(order, dtype=np.intp)


def _flatten(trees: Sequence[dict[str, np.ndarray]], float32_input: bool) -> _FlatForest:
    """Concatenate per-tree node arrays (leaf where left < 0) into one forest."""
    roots, feature, threshold, missing, first, value = [], [], [], [], [], []
    depth, offset = 0, 0
    for t in trees:
        order = _children_adjacent(t["left"], t["right"])
        new_index = np.empty(len(t["left"]), dtype=np.intp)
        new_index[order] = np.arange(len(order)) + offset
        leaf = t["left"][order] < 0
        roots.append(offset)
        first.append(np.where(leaf, new_index[order], new_index[t["left"][order]]))
        feature.append(np.where(leaf, 0, t["feature"][order]))
        threshold.append(np.where(leaf, np.inf, t["threshold"][order]))
        missing.append(~leaf & ~t["missing_left"][order].astype(bool))
        value.append(t["value"][order])
        depth = max(depth, int(t["depth"]))
        offset += len(order)
    return _FlatForest(
        roots=np.asarray(roots, dtype=np.intp),
        feature=np.concatenate(feature).astype(np.intp),
        threshold=np.concatenate(threshold).astype(np.float64),
        missing_right=np.concatenate(missing),
        first_child=np.concatenate(first).astype(np.intp),
        value=np.concatenate(value).astype(np.float64),
        depth=depth,
        float32_input=float32_input,
    )


def sklearn_forest(model: Any, classification: bool) -> _FlatForest:
    if model.n_outputs_ != 1:
        raise UnsupportedPipelineError("random forest with several outputs")
    trees = []
    for est in model.estimators_:
        t = est.tree_
        value = t.value[:, 0, 1] if classification else t.value[:, 0, 0]
        trees.append(
            {
                "left": t.children_left,
                "right": t.children_right,
                "feature": t.feature,
                "threshold": t.threshold,
                "missing_left": t.missing_go_to_left,
                "value": value,
                "depth": t.max_depth,
            }
        )
    return _flatten(trees, float32_input=True)


def hist_forest(model: Any) -> _FlatForest:
    if model.n_trees_per_iteration_ != 1:
        raise UnsupportedPipelineError("hist gradient boosting with several trees per iteration")
    is_categorical = getattr(model, "is_categorical_", None)
    if is_categorical is not None and np.any(is_categorical):
        raise UnsupportedPipelineError("hist gradient boosting with native categorical features")
    trees = []
    for (predictor,) in model._predictors:
        nodes = predictor.nodes
        if nodes["is_categorical"].any():
            raise UnsupportedPipelineError("hist gradient boosting tree with categorical splits")
        leaf = nodes["is_leaf"].astype(bool)
        trees.append(
            {
                "left": np.where(leaf, -1, nodes["left"].astype(np.int64)),
                "right": nodes["right"].astype(np.int64),
                "feature": nodes["feature_idx"],
                "threshold": nodes["num_threshold"],
                "missing_left": nodes["missing_go_to_left"],
                "value": nodes["value"],
                "depth": nodes["depth"].max(),
            }
        )
    return _flatten(trees, float32_input=False)
