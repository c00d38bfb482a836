"""Time splits keep label windows apart."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shequn_ml.features import rolling_cutoffs
from shequn_ml.split import time_split


@settings(max_examples=60, deadline=None)
@given(n=st.integers(6, 40), every=st.integers(1, 30), horizon=st.integers(1, 60),
       n_val=st.integers(1, 3), n_test=st.integers(1, 3))
def test_folds_are_ordered_and_label_windows_never_overlap(n, every, horizon, n_val, n_test):
    cuts = rolling_cutoffs("2024-01-01", pd.Timestamp("2024-01-01") + pd.Timedelta(days=every * (n - 1)),
                           every)
    try:
        s = time_split(cuts, horizon, n_validation=n_val, n_test=n_test)
    except ValueError as exc:
        assert "cannot make train" in str(exc)
        return
    h = pd.Timedelta(days=horizon)
    assert max(s.train) + h <= min(s.validation)
    assert max(s.validation) + h <= min(s.test)
    assert len(s.validation) == n_val and len(s.test) == n_test
    assert sorted(s.train + s.validation + s.test + s.dropped) == cuts
    assert s.test == cuts[-n_test:]


def test_fold_of_and_describe():
    cuts = rolling_cutoffs("2024-01-01", "2024-03-31", 7)
    s = time_split(cuts, 14)
    folds = s.fold_of(pd.Series(cuts))
    assert folds.iloc[-1] == "test" and folds.iloc[0] == "train"
    assert (folds == "dropped").sum() == len(s.dropped) == 2
    assert "train 9 cutoffs 2024-01-01..2024-02-26; validation 1 cutoffs" in s.describe()


def test_too_few_cutoffs_is_a_clear_error():
    with pytest.raises(ValueError, match="cannot make train, 1 validation and 1 test cutoffs"):
        time_split(rolling_cutoffs("2024-01-01", "2024-01-15", 7), 14)


def test_a_split_with_overlapping_label_windows_is_refused():
    from shequn_ml.split import TimeSplit

    cuts = rolling_cutoffs("2024-01-01", "2024-02-26", 7)
    with pytest.raises(ValueError, match="label window reaches past the first validation cutoff"):
        TimeSplit(train=cuts[:5], validation=cuts[5:7], test=cuts[8:], horizon_days=14)
    with pytest.raises(ValueError, match="reaches past the first test cutoff 2024-02-19"):
        TimeSplit(train=cuts[:2], validation=cuts[4:7], test=cuts[7:], horizon_days=14)
    with pytest.raises(ValueError, match="the validation fold has no cutoffs"):
        TimeSplit(train=cuts[:2], validation=[], test=cuts[8:], horizon_days=14)
    ok = TimeSplit(train=cuts[:3], validation=cuts[5:6], test=cuts[8:], horizon_days=14)
    assert ok.test == cuts[8:]
