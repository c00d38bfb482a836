"""Readers refuse what would otherwise be read wrong without a word (issue 15)."""

from __future__ import annotations

import numpy as np
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
    # in range, the same column type still reads, exactly (as UTC: it carries no zone)
    from shequn_ml.validation import DataWarning

    with pytest.warns(DataWarning, match=r"1 timestamps carry no time zone; they were read as UTC"):
        ok = sio.read_events(frame.iloc[:1])
    assert ok["ts"].iloc[0] == pd.Timestamp("2024-01-01", tz="UTC")


def test_parquet_parts_with_more_columns_later_keep_them(tmp_path, events_frame):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "parts"
    folder.mkdir()
    first = events_frame.iloc[:3][["ts", "group_id", "member_id", "event_type"]]
    later = events_frame.iloc[3:]
    pq.write_table(pa.Table.from_pandas(first, preserve_index=False), folder / "part-0.parquet")
    pq.write_table(pa.Table.from_pandas(later, preserve_index=False), folder / "part-1.parquet")
    from shequn_ml.validation import DataWarning

    # the first part's reply has no target column at all: kept, with the usual warning
    with pytest.warns(DataWarning, match=r"1 reply/mention/invite rows have no target_member_id"):
        ev = sio.read_events(folder)
    assert len(ev) == len(events_frame)
    whole = sio.read_events(events_frame)
    got = ev.set_index("event_id")
    # the later part's amount and target survive; the first part's rows have none
    assert got.loc["e4", "amount"] == 1.25 and got.loc["e6", "amount"] == 99.0
    assert str(got.loc["e5", "target_member_id"]) == "u9"
    assert ev["amount"].notna().sum() == 2  # only the later part's two amounts
    assert sorted(ev.columns) == sorted(whole.columns)


def test_parquet_parts_that_disagree_on_a_type_are_refused(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "parts"
    folder.mkdir()
    base = {"ts": ["2024-01-01T00:00:00Z"], "group_id": ["g"], "member_id": ["a"], "event_type": ["purchase"]}
    pq.write_table(pa.table({**base, "amount": pa.array([1.5])}), folder / "part-0.parquet")
    pq.write_table(pa.table({**base, "amount": pa.array(["1.5"])}), folder / "part-1.parquet")
    with pytest.raises(EventValidationError,
                       match=r"parts: column 'amount': Parquet parts disagree on the type of this column: "
                             r"part-0\.parquet has double, part-1\.parquet has string"):
        sio.read_events(folder)


def test_float_ids_that_lost_precision_are_refused():
    big = 123456789012345678  # an 18-digit id: float64 cannot hold it
    frame = pd.DataFrame({"ts": ["2024-01-01", "2024-01-02", "2024-01-03"], "group_id": ["g"] * 3,
                          "member_id": [float(big), 2.0, 3.0], "event_type": ["message", "reply", "message"],
                          "target_member_id": [np.nan, float(big), np.nan]})
    with pytest.raises(EventValidationError,
                       match=r"column 'member_id': 1 ids are stored as floating-point numbers that are not "
                             r"whole or too large to be exact .*store ids as text.*index 0"):
        sio.read_events(frame)
    frame["member_id"] = [1.5, 2.0, 3.0]
    with pytest.raises(EventValidationError, match=r"column 'member_id': 1 ids are stored as floating"):
        sio.read_events(frame)
    # small whole floats (a NaN turned the column into float64) still read, as whole-number text
    frame["member_id"] = [1.0, 2.0, 3.0]
    frame["target_member_id"] = [np.nan, 1.0, np.nan]
    ev = sio.read_events(frame)
    assert ev["member_id"].astype(str).tolist() == ["1", "2", "3"]
    assert str(ev["target_member_id"].iloc[1]) == "1"


def test_excel_serial_dates_are_refused_with_the_fix(write_csv):
    path = write_csv("ts,group_id,member_id,event_type\n45296.54,g1,u1,message\n45297.1,g1,u2,message\n")
    with pytest.raises(EventValidationError,
                       match=r"events\.csv: column 'ts': 2 values look like Excel serial day numbers .*"
                             r"1899-12-30 \+ days; first rows: line 2: 45296\.54"):
        sio.read_events(path)
    # real epoch seconds and milliseconds still read
    ok = write_csv("ts,group_id,member_id,event_type\n1704067200,g1,u1,message\n1704067260,g1,u2,message\n",
                   name="epoch.csv")
    assert sio.read_events(ok)["ts"].min() == pd.Timestamp("2024-01-01", tz="UTC")


def test_a_header_naming_a_column_twice_is_one_line(write_csv, capsys):
    path = write_csv("ts,group_id,member_id,event_type,ts\n2024-01-01,g,a,message,2024-01-02\n")
    with pytest.raises(EventValidationError,
                       match=r"events\.csv: the header names column\(s\) 'ts' more than once"):
        sio.read_events(path)
    assert main(["validate", str(path)]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_a_gb18030_csv_is_read_with_a_shown_warning(tmp_path):
    from shequn_ml.validation import DataWarning

    path = tmp_path / "群聊.csv"
    path.write_bytes("ts,group_id,member_id,event_type\n2024-01-01,群1,张三,message\n".encode("gb18030"))
    with pytest.warns(DataWarning, match=r"群聊\.csv: the file is not UTF-8; it was read as GB18030"):
        ev = sio.read_events(path)
    assert str(ev["member_id"].iloc[0]) == "张三" and str(ev["group_id"].iloc[0]) == "群1"
    bom = tmp_path / "bom.csv"
    text = "ts,group_id,member_id,event_type\n2024-01-01,g,张三,message\n"
    bom.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert str(sio.read_events(bom)["member_id"].iloc[0]) == "张三"
    junk = tmp_path / "junk.csv"
    junk.write_bytes(b"ts,group_id,member_id,event_type\n2024-01-01,g,\xff\xfe\xff\xfe\xff,message\n")
    with pytest.raises(EventValidationError,
                       match=r"junk\.csv: is not UTF-8 text \(nor GB18030\): save it as 'CSV UTF-8'"):
        sio.read_events(junk)


def test_xlsx_is_read_and_a_workbook_named_csv_is_refused_by_name(tmp_path, capsys):
    frame = pd.DataFrame({"ts": ["2024-01-01T08:00:00+08:00", "2024-01-02T09:00:00+08:00"],
                          "group_id": ["g1", "g1"], "member_id": ["007", "张三"],
                          "event_type": ["message", "message"]})
    book = tmp_path / "export.xlsx"
    frame.to_excel(book, index=False)
    ev = sio.read_events(book)
    assert [str(m) for m in ev["member_id"]] == ["007", "张三"]  # ids stay text
    assert ev["ts"].iloc[0] == pd.Timestamp("2024-01-01T00:00:00Z")
    disguised = tmp_path / "export.csv"
    disguised.write_bytes(book.read_bytes())
    assert main(["validate", str(disguised)]) == 2
    out = capsys.readouterr()
    assert "export.csv: is not a CSV file: it is a zip archive" in out.out + out.err
    assert "PK" not in out.out + out.err


def test_ids_with_surrounding_spaces_are_one_member_with_a_warning(write_csv):
    from shequn_ml.validation import DataWarning

    path = write_csv("ts,group_id,member_id,event_type,target_member_id\n"
                     "2024-01-01,g1,m1,message,\n2024-01-02,g1,m1 ,message,\n"
                     "2024-01-03,g1 , m1,reply,m2 \n2024-01-04,g1,m2,message,\n")
    import re
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ev = sio.read_events(path)
    said = [str(w.message) for w in caught if issubclass(w.category, DataWarning)]
    assert any(re.search(r"column 'member_id': 2 ids have spaces around them; they were stripped.*"
                         r"line 3: 'm1 '", m) for m in said), said
    assert any("column 'group_id': 1 ids have spaces" in m for m in said)
    assert any("column 'target_member_id': 1 ids have spaces" in m for m in said)
    assert sorted(map(str, ev["member_id"].unique())) == ["m1", "m2"]
    assert set(map(str, ev["group_id"])) == {"g1"}
    assert str(ev["target_member_id"].iloc[2]) == "m2"


def test_naive_timestamps_warn_and_tz_reads_them_as_local_time(write_csv):
    from shequn_ml.validation import DataWarning

    text = ("ts,group_id,member_id,event_type\n2024-03-01 07:30:00,g1,u1,message\n"
            "2024-03-01T08:00:00+08:00,g1,u2,message\n2024-03-02,g1,u3,message\n")
    path = write_csv(text)
    with pytest.warns(DataWarning, match=r"column 'ts': 1 timestamps carry no time zone; they were read "
                                         r"as UTC.*tz='Asia/Shanghai' \(--tz Asia/Shanghai\); first rows: "
                                         r"line 2"):
        utc = sio.read_events(path)
    assert utc["ts"].iloc[0] == pd.Timestamp("2024-03-01T07:30:00Z")
    local = sio.read_events(path, tz="Asia/Shanghai")  # no warning: the zone is given
    expected = ["2024-02-29T23:30:00Z", "2024-03-01T00:00:00Z", "2024-03-01T16:00:00Z"]
    assert local["ts"].tolist() == [pd.Timestamp(t) for t in expected]
    with pytest.raises(ValueError, match=r"unknown time zone 'Beijing': use an IANA name such as "
                                         r"'Asia/Shanghai'"):
        sio.read_events(path, tz="Beijing")
