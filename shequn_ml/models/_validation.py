"""Input checks shared by the estimators: say what was expected and what was found."""

from __future__ import annotations

import numpy as np
import pandas as pd


def check_frame(X: object, *, where: str, expected_columns: list[str] | None = None) -> pd.DataFrame:
    """A feature frame: a DataFrame of numeric or categorical columns.

    Raises
    ------
    TypeError
        If ``X`` is not a DataFrame or has columns of another dtype.
    ValueError
        If ``expected_columns`` is given and the columns differ (a diff is shown);
        column order does not matter and the result is reordered to match.
    """
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"{where}: X must be a pandas DataFrame of features; got {type(X).__name__}")
    bad = [c for c in X.columns
           if not (pd.api.types.is_numeric_dtype(X[c]) or isinstance(X[c].dtype, pd.CategoricalDtype))]
    if bad:
        kinds = ", ".join(f"{c!r} ({X[c].dtype})" for c in bad[:5])
        raise TypeError(f"{where}: feature columns must be numeric or categorical; got {kinds}")
    if expected_columns is not None:
        missing = [c for c in expected_columns if c not in X.columns]
        extra = [c for c in X.columns if c not in expected_columns]
        if missing or extra:
            raise ValueError(
                f"{where}: columns differ from those seen in fit: missing {missing or 'none'}; "
                f"unexpected {extra or 'none'}")
        X = X[expected_columns]
    return X


def check_binary(y: object, n: int, *, where: str) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1 or len(arr) != n:
        raise ValueError(f"{where}: y must be one label per row ({n}); got shape {arr.shape}")
    values = set(np.unique(arr).tolist())
    if not values <= {0, 1}:
        raise ValueError(f"{where}: y must hold 0/1 labels; got values {sorted(values)[:5]}")
    if len(values) < 2:
        raise ValueError(f"{where}: y has only the label {values.pop()}; both classes are needed")
    return arr.astype(int)
