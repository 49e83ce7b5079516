"""LightGBM's prediction for the serving fast path, one record at a time through its C API.

``Booster.predict`` costs about 90 µs for a single row here, almost all of it Python-side
argument handling; LightGBM's ``LGBM_BoosterPredictForMatSingleRowFast`` (a prediction
configuration prepared once, then one C call per row) costs about 13 µs. This module is
the only place that touches LightGBM's C library; several rows still go through
``Booster.predict``. ``encoder.verify_compiled`` checks both paths against the pipeline.
"""

from __future__ import annotations

import ctypes
import threading
import weakref
from typing import Any

import numpy as np

_PREDICT_NORMAL = 0  # C_API_PREDICT_NORMAL: probabilities for binary objectives
_DTYPE_FLOAT64 = 1  # C_API_DTYPE_FLOAT64


class LightGBMScorer:
    """``scorer(X)``: a fitted booster's predictions, one thread, fast for one row."""

    def __init__(self, booster: Any, n_features: int) -> None:
        from lightgbm.basic import _LIB, _safe_call

        self._booster = booster  # keeps the handle the fast configuration points at alive
        self._n_features = n_features
        self._lock = threading.Lock()  # the configuration's buffers serve one call at a time
        handle = ctypes.c_void_p()
        # One thread: several server workers share the cores, and OpenMP threads that spin
        # waiting for work make every worker slower (PITFALLS: ~4,500 -> ~350 requests/s).
        _safe_call(
            _LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
                booster._handle,
                ctypes.c_int(_PREDICT_NORMAL),
                ctypes.c_int(0),  # start iteration
                ctypes.c_int(-1),  # every iteration (the best one when early-stopped)
                ctypes.c_int(_DTYPE_FLOAT64),
                ctypes.c_int32(n_features),
                ctypes.c_char_p(b"num_threads=1"),
                ctypes.byref(handle),
            )
        )
        self._config = handle
        self._predict_row = _LIB.LGBM_BoosterPredictForMatSingleRowFast
        self._check = _safe_call
        self._out = np.zeros(1, dtype=np.float64)
        self._out_len = ctypes.c_int64(0)
        self._out_ptr = self._out.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
        weakref.finalize(self, _LIB.LGBM_FastConfigFree, handle)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        if X.shape[0] != 1:
            return np.asarray(self._booster.predict(X, num_threads=1), dtype=np.float64)
        row = np.ascontiguousarray(X[0], dtype=np.float64)
        if row.shape[0] != self._n_features:
            raise ValueError(f"expected {self._n_features} encoded columns, got {row.shape[0]}")
        with self._lock:
            self._check(
                self._predict_row(
                    self._config,
                    row.ctypes.data_as(ctypes.c_void_p),
                    ctypes.byref(self._out_len),
                    self._out_ptr,
                )
            )
            return self._out.copy()
