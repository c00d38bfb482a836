"""Readers refuse what would otherwise be read wrong without a word (issue 15)."""

from __future__ import annotations

import pandas as pd
import pytest

import shequn_ml.io as sio
from shequn_ml.cli import main
from shequn_ml.validation import EventValidationError


@pytest.mark.parametrize("never", ["9999-12-31", "2300-01-01T00:00:00Z", "0001-01-01"])
def test_timestamps_out_of_range_are_refused_not_wrapped(write_csv, capsys, never):
    path = write_csv("ts,group_id,member_id,event_type\n2024-01-01,g1,u1,message\n"
                     f"{never},g1,u2,message\n")
    with pytest.raises(EventValidationError,
                       match=r"events\.csv: column 'ts': 1 timestamps lie outside 1677-09-21 \.\. "
                             rf"2262-04-11.*line 3: '?{never}"):
        sio.read_events(path)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr()
    assert "timestamps lie outside" in err.out + err.err and "Traceback" not in err.err


def test_datetime_columns_out_of_range_are_refused(tmp_path):
    frame = pd.DataFrame({"ts": pd.to_datetime(["2024-01-01", "9999-12-31"]).astype("datetime64[us]"),
                          "group_id": ["g", "g"], "member_id": ["a", "b"],
                          "event_type": ["message", "message"]})
    frame.to_parquet(tmp_path / "events.parquet")
    with pytest.raises(EventValidationError, match=r"events\.parquet: column 'ts': 1 timestamps lie outside"):
        sio.read_events(tmp_path / "events.parquet")
    # in range, the same column type still reads, exactly
    ok = sio.read_events(frame.iloc[:1])
    assert ok["ts"].iloc[0] == pd.Timestamp("2024-01-01", tz="UTC")
