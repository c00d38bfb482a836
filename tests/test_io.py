"""Readers, normalisation and every bad input of the event contract."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shequn_ml import io as sio
from shequn_ml.io import (
    read_events,
    read_groups,
    read_members,
    validate_events,
    write_table,
)
from shequn_ml.validation import DataWarning, EventValidationError

HEADER = "ts,group_id,member_id,event_type\n"


# --------------------------------------------------------------------------- normalisation


def test_reads_csv_parquet_and_frame_to_the_same_table(events_frame, write_csv, tmp_path):
    from_frame = read_events(events_frame)
    from_csv = read_events(write_csv(events_frame))
    pq_path = tmp_path / "events.parquet"
    events_frame.to_parquet(pq_path)
    from_parquet = read_events(pq_path)
    pd.testing.assert_frame_equal(from_frame, from_csv)
    pd.testing.assert_frame_equal(from_frame, from_parquet)
    assert list(from_frame.columns) == [
        "ts", "group_id", "member_id", "event_type", "event_id", "target_member_id",
        "ref_event_id", "amount", "text_len"]


def test_types_are_normalised(events_frame):
    ev = read_events(events_frame)
    assert str(ev["ts"].dtype) == "datetime64[ns, UTC]"
    assert isinstance(ev["member_id"].dtype, pd.CategoricalDtype)
    assert isinstance(ev["group_id"].dtype, pd.CategoricalDtype)
    # member and target ids share one category set, so they compare directly
    assert ev["member_id"].cat.categories.equals(ev["target_member_id"].cat.categories)
    assert (ev["member_id"].astype(str)[2], ev["target_member_id"].astype(str)[2]) == ("u2", "u1")
    assert ev["event_type"].cat.categories[0] == "join"
    # +08:00 is converted, not dropped
    assert ev["ts"][1] == pd.Timestamp("2024-01-02T00:00:00Z")
    assert ev["text_len"].dtype == "Int32"


@pytest.mark.parametrize(
    "raw, expected",
    [
        (1704067200, "2024-01-01T00:00:00Z"),  # epoch seconds
        (1704067200123, "2024-01-01T00:00:00.123Z"),  # epoch milliseconds
        (1704067200123456, "2024-01-01T00:00:00.123456Z"),  # epoch microseconds
        (1704067200.5, "2024-01-01T00:00:00.5Z"),  # fractional seconds
        ("2024-01-01 09:00:00+09:00", "2024-01-01T00:00:00Z"),  # offset honoured
        ("2024-01-01", "2024-01-01T00:00:00Z"),  # naive date taken as UTC
        ("1704067200", "2024-01-01T00:00:00Z"),  # epoch written as text
    ],
)
def test_timestamp_forms(raw, expected):
    frame = pd.DataFrame({"ts": [raw], "group_id": ["g"], "member_id": ["m"],
                          "event_type": ["message"]})
    assert read_events(frame)["ts"][0] == pd.Timestamp(expected)


def test_integer_ids_keep_their_text(write_csv):
    path = write_csv(HEADER + "2024-01-01,007,42,join\n2024-01-02,007,42,message\n")
    ev = read_events(path)
    assert ev["group_id"].astype(str).tolist() == ["007", "007"]
    frame = pd.DataFrame({"ts": ["2024-01-01", "2024-01-02"], "group_id": [7, 7],
                          "member_id": [1.0, 2.0], "event_type": ["join", "join"]})
    assert read_events(frame)["member_id"].astype(str).tolist() == ["1", "2"]
    pq_path = path.with_suffix(".parquet")
    frame.assign(member_id=[1, 2]).to_parquet(pq_path)
    assert read_events(pq_path)["member_id"].astype(str).tolist() == ["1", "2"]


def test_event_type_case_and_spaces_are_forgiven(write_csv):
    ev = read_events(write_csv(HEADER + "2024-01-01,g,m, Message \n2024-01-02,g,m,CHECKIN\n"))
    assert ev["event_type"].astype(str).tolist() == ["message", "checkin"]


def test_unknown_extra_columns_are_kept_at_the_end(events_frame):
    events_frame["channel"] = "app"
    ev = read_events(events_frame)
    assert ev.columns[-1] == "channel"
    assert (ev["channel"] == "app").all()


# --------------------------------------------------------------------------- bad input


def _error(source, **kw) -> str:
    with pytest.raises(EventValidationError) as info:
        read_events(source, **kw)
    return str(info.value)


def test_missing_required_column_names_file_column_and_alias(write_csv):
    path = write_csv("timestamp,group_id,user_id,event_type\n2024-01-01,g,m,join\n")
    msg = _error(path)
    assert f"{path}: column 'ts': required column is missing" in msg
    assert "found 'timestamp': rename it to 'ts'" in msg
    assert "column 'member_id'" in msg and "found 'user_id'" in msg


def test_unknown_event_type_suggests_the_closest_name(write_csv):
    path = write_csv(HEADER + "2024-01-01,g,m,join\n2024-01-02,g,m,mesage\n2024-01-03,g,m,mesage\n")
    msg = _error(path)
    assert f"{path}: column 'event_type': unknown event type 'mesage' in 2 rows" in msg
    assert "did you mean 'message'?" in msg
    assert "line 3: 'mesage', line 4: 'mesage'" in msg


def test_unknown_event_type_without_a_close_name_points_to_register(write_csv):
    msg = _error(write_csv(HEADER + "2024-01-01,g,m,zzzz\n"))
    assert "register_event_type" in msg


def test_unparseable_timestamp_names_rows_and_values(write_csv):
    path = write_csv(HEADER + "2024-01-01,g,m,join\nyesterday,g,m,message\n2024-13-01,g,m,message\n")
    msg = _error(path)
    assert f"{path}: column 'ts': 2 values do not parse as timestamps" in msg
    assert "line 3: 'yesterday', line 4: '2024-13-01'" in msg


@pytest.mark.parametrize("column", ["member_id", "group_id"])
def test_null_ids_are_refused(events_frame, column):
    events_frame.loc[3, column] = None
    events_frame.loc[4, column] = "  "
    msg = _error(events_frame, name="today.parquet")
    assert f"today.parquet: column '{column}': 2 rows have no {column}" in msg
    assert "index 3: <empty>, index 4: '  '" in msg


def test_negative_amount_is_refused_in_parquet_with_row_numbers(events_frame, tmp_path):
    events_frame.loc[5, "amount"] = -99.0
    path = tmp_path / "ev.parquet"
    events_frame.to_parquet(path, index=False)
    msg = _error(path)
    assert f"{path}: column 'amount': 1 amounts are negative" in msg
    assert "row 5: -99.0" in msg


def test_non_numeric_amount_is_refused(write_csv):
    msg = _error(write_csv(HEADER.strip() + ",amount\n2024-01-01,g,m,purchase,ten\n"))
    assert "column 'amount': 1 values are not numbers; first rows: line 2: 'ten'" in msg


def test_missing_target_is_a_counted_warning(events_frame):
    events_frame.loc[2, "target_member_id"] = None  # a reply
    events_frame.loc[4, "target_member_id"] = None  # an invite
    result = validate_events(events_frame)
    assert result.report.ok
    (warning,) = result.report.warnings
    assert warning.count == 2 and warning.column == "target_member_id"
    with pytest.warns(DataWarning, match="2 reply/mention/invite rows have no target_member_id"):
        ev = read_events(events_frame)
    assert len(ev) == len(events_frame)  # kept


def test_missing_target_column_counts_every_targeted_row(write_csv):
    path = write_csv(HEADER + "2024-01-01,g,a,reply\n2024-01-01,g,a,message\n2024-01-02,g,a,mention\n")
    result = validate_events(path)
    (warning,) = result.report.warnings
    assert warning.count == 2
    assert warning.rows == ("line 2: 'reply'", "line 4: 'mention'")


def test_duplicate_event_ids_are_dropped_and_counted(events_frame):
    dup = pd.concat([events_frame, events_frame.iloc[[1, 2]]], ignore_index=True)
    with pytest.warns(DataWarning, match="2 rows repeat an earlier event_id and were dropped"):
        ev = read_events(dup)
    assert len(ev) == len(events_frame)
    assert ev["event_id"].tolist() == events_frame["event_id"].tolist()


@pytest.mark.parametrize(
    "content, expected",
    [("", "the file is empty: no header and no rows"),
     (HEADER, "the file has a header (ts, group_id, member_id, event_type) but no rows")],
)
def test_empty_files_are_refused(write_csv, content, expected):
    path = write_csv(content)
    assert f"{path}: {expected}" in _error(path)


def test_missing_file_and_unreadable_file(tmp_path):
    assert f"{tmp_path / 'nope.csv'}: the file does not exist" in _error(tmp_path / "nope.csv")
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet at all")
    assert f"{bad}: cannot be read as PARQUET" in _error(bad)


def test_every_problem_is_reported_at_once(write_csv):
    path = write_csv(HEADER.strip() + ",amount\n2024-01-01,g,m,join,\nbad,g,,mesage,-1\n")
    result = validate_events(path)
    assert {p.check for p in result.report.errors} == {
        "unparseable_timestamp", "null_id", "unknown_event_type", "negative_amount"}
    assert result.table is None


def test_validation_error_is_a_value_error_with_the_report(write_csv):
    with pytest.raises(ValueError) as info:
        read_events(write_csv(HEADER + "x,g,m,join\n"))
    assert info.value.report.errors[0].rows == ("line 2: 'x'",)


# --------------------------------------------------------------------------- round trips


def test_csv_and_parquet_round_trip_keep_every_row_and_value(events_frame, tmp_path):
    ev = read_events(events_frame)
    for name in ("out.csv", "out.parquet"):
        path = write_table(ev, tmp_path / name)
        back = read_events(path)
        pd.testing.assert_frame_equal(back, ev)


_ids = st.text(alphabet="abcxyz0123456789_群", min_size=1, max_size=6).filter(
    lambda s: s.strip() == s and not s.isdigit())


@settings(max_examples=30, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.integers(min_value=946684800, max_value=2000000000),  # 2000..2033, seconds
            _ids, _ids,
            st.sampled_from(sorted(["message", "reply", "join", "purchase", "checkin"])),
            st.one_of(st.none(), st.floats(min_value=0, max_value=1e6, allow_nan=False)),
        ),
        min_size=1, max_size=40,
    )
)
@pytest.mark.filterwarnings("ignore:.*aimed at their own sender:shequn_ml.validation.DataWarning")
def test_round_trip_property(tmp_path_factory, rows):
    frame = pd.DataFrame(rows, columns=["ts", "group_id", "member_id", "event_type", "amount"])
    frame["target_member_id"] = frame["member_id"]
    ev = read_events(frame)
    assert len(ev) == len(frame)
    out = tmp_path_factory.mktemp("rt")
    for name in ("e.csv", "e.parquet"):
        back = read_events(write_table(ev, out / name))
        pd.testing.assert_frame_equal(back, ev)
    assert (ev["ts"].astype("int64") // 10**9).tolist() == frame["ts"].tolist()


# --------------------------------------------------------------------------- side tables


def test_members_table_normalises_and_refuses_duplicate_keys(tmp_path):
    members = pd.DataFrame({
        "member_id": ["a", "b", "a"], "group_id": ["g", "g", "h"],
        "joined_at": ["2024-01-01", "2024-01-02", 1704067200],
        "paid": ["yes", "否", "1"], "expires_at": [None, "2024-06-01", None],
        "level": [1, 2, None], "invited_by": [None, "a", "b"], "kol_tag": [True, False, None],
    })
    m = read_members(members)
    assert m["paid"].tolist() == [True, False, True]
    assert str(m["joined_at"].dtype) == "datetime64[ns, UTC]"
    assert m["invited_by"].cat.categories.equals(m["member_id"].cat.categories)
    assert m["level"].dtype == "Int64"
    dup = pd.concat([members, members.iloc[[0]]], ignore_index=True)
    path = tmp_path / "members.csv"
    dup.to_csv(path, index=False)
    with pytest.raises(EventValidationError,
                       match=r"members.csv: column 'member_id, group_id': 2 rows share"):
        read_members(path)


def test_members_bad_bool_is_refused():
    with pytest.raises(EventValidationError,
                       match=r"column 'paid': 1 values are not true/false.*index 1: 'maybe'"):
        read_members(pd.DataFrame({"member_id": ["a", "b"], "group_id": ["g", "g"],
                                   "paid": ["yes", "maybe"]}))


def test_groups_table(write_csv):
    path = write_csv("group_id,created_at,kind,capacity,owner_id\n"
                     "g1,2024-01-01,paid,500,u1\ng2,2024-02-01,free,2000,u2\n", "groups.csv")
    g = read_groups(path)
    assert g["capacity"].tolist() == [500, 2000]
    assert g["kind"].astype(str).tolist() == ["paid", "free"]
    bad = write_csv("group_id,capacity\ng1,-5\ng1,10\n", "groups_bad.csv")
    msg = str(pytest.raises(EventValidationError, read_groups, bad).value)
    assert f"{bad}: column 'capacity': 1 values are not whole numbers >= 0" in msg


# --------------------------------------------------------------------------- atomic writes


def test_write_table_is_atomic_when_the_write_fails(tmp_path, monkeypatch, events_frame):
    dest = tmp_path / "scores.parquet"
    dest.write_bytes(b"old contents")

    def explode(*args, **kwargs):
        Path(args[1]).write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(sio.pq, "write_table", explode)
    with pytest.raises(OSError, match="disk full"):
        write_table(read_events(events_frame), dest)
    assert dest.read_bytes() == b"old contents"
    assert os.listdir(tmp_path) == ["scores.parquet"]  # no temporary file left behind


def test_parquet_folder_of_parts(events_frame, tmp_path):
    table = pa.Table.from_pandas(events_frame, preserve_index=False)
    folder = tmp_path / "events"
    folder.mkdir()
    pq.write_table(table.slice(0, 3), folder / "part-0.parquet")
    pq.write_table(table.slice(3), folder / "part-1.parquet")
    ev = read_events(folder)
    assert len(ev) == len(events_frame)
    assert np.array_equal(ev["event_id"].to_numpy(), events_frame["event_id"].to_numpy())


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", "A", "a ", "", "007", "7", "事件"]),
                          st.text(max_size=6)), max_size=60))
def test_duplicate_marks_equal_pandas_duplicated(values):
    s = pd.Series(values, dtype="string")
    expected = (s.notna() & s.duplicated(keep="first")).to_numpy()
    np.testing.assert_array_equal(sio.repeats_an_earlier_value(s), expected)
    # object columns (pandas without Arrow strings) give the same marks
    np.testing.assert_array_equal(sio.repeats_an_earlier_value(s.astype(object)), expected)


def test_duplicate_marks_survive_a_hash_collision(monkeypatch):
    """Equal hashes are only candidates: the text decides (forced here: every hash collides)."""
    import polars as pl

    monkeypatch.setattr(pl.Series, "hash", lambda self, seed=0: pl.Series([7] * len(self), dtype=pl.UInt64))
    s = pd.Series(["x", "y", "x", None, "z", "y"], dtype="string")
    assert sio.repeats_an_earlier_value(s).tolist() == [False, False, True, False, False, True]


@settings(max_examples=80, deadline=None)
@given(values=st.one_of(
    st.lists(st.one_of(st.text(max_size=4), st.none()), max_size=15),
    st.lists(st.integers(-5, 10**15), max_size=15),
    st.lists(st.one_of(st.text(max_size=3), st.integers(0, 99), st.floats(allow_infinity=False), st.none()),
             max_size=15)),
    kind=st.sampled_from(["object", "inferred", "str"]))
def test_id_text_without_the_python_loop_equals_the_per_value_text(values, kind):
    """The vectorised text of distinct ids (text and integers) equals the per-value rule."""
    if kind == "object":
        arr = np.array(values + [None], dtype=object)[:-1]
    elif kind == "str" and all(v is None or isinstance(v, str) for v in values):
        arr = pd.array(values, dtype="str")
    else:
        arr = pd.Series(values, dtype=object).infer_objects().array
    assert list(sio._text_array(arr)) == sio._unique_text(arr)
