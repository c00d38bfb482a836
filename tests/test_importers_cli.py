"""``shequn-ml import``: the format registry, the command, its one-line errors, pseudonymised ids."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import shequn_ml.importers as importers
from shequn_ml.cli import main
from shequn_ml.importers import FORMATS, FormatUnavailableError, read_export
from shequn_ml.io import read_events, read_groups, read_members

DATA = Path(__file__).parent / "data" / "importers" / "mapped"
CSV = DATA / "scrm_actions.csv"
MAPPING = DATA / "scrm_mapping.yaml"
RAW_IDS = {"wx_owner", "wx_ming", "wx_hong", "wx_spam", "wx_lei"}
KEY = "k3y-Only-In-The-Env-7f1c"


def _import(out: Path, *extra: str) -> int:
    return main(["import", "csv", str(CSV), "--mapping", str(MAPPING), "--out", str(out), *extra])


def _one_line_error(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    assert lines[0].startswith("shequn-ml import: ")
    return lines[0]


# --------------------------------------------------------------------------- the registry


def test_registry_names_every_format_and_reads_csv():
    assert FORMATS == {"slack": "slack:read_slack_export", "linelog": "linelog:read_line_log",
                       "wechat": "wechat:read_wechat", "qq": "qq:read_qq", "wecom": "wecom:read_wecom",
                       "telegram": "telegram:read_telegram", "discord": "discord:read_discord",
                       "csv": "mapped:read_mapped"}
    result = read_export("csv", CSV, mapping=MAPPING)
    assert len(result.events) == 22
    assert {"FORMATS", "read_export", "read_mapped", "write_import", "pseudonymise",
            "ImportResult"} <= set(importers.__all__)


def test_read_export_refuses_unknown_and_missing_formats(monkeypatch):
    with pytest.raises(FormatUnavailableError,
                       match=r"unknown export format 'fax': known formats are slack, "):
        read_export("fax", CSV)
    monkeypatch.setitem(FORMATS, "pager", "no_such_module:read_pager")
    with pytest.raises(FormatUnavailableError,
                       match=r"the pager importer \(shequn_ml\.importers\.no_such_module\) is not available"):
        read_export("pager", CSV)
    with pytest.raises(AttributeError, match="read_pager"):
        _ = importers.read_pager


# --------------------------------------------------------------------------- the command


def test_import_csv_writes_a_folder_that_validates(tmp_path, capsys):
    out = tmp_path / "imported"
    assert _import(out) == 0
    stdout = capsys.readouterr().out
    assert f"imported {CSV} (csv): 22 events, 5 members, 2 groups" in stdout
    assert "join 5" in stdout and "removed 2" in stdout
    assert "unknown label: 抽奖 2" in stdout
    assert f"-> {out}: events.parquet, members.parquet, groups.parquet, nicknames.parquet, " \
           "import-report.json" in stdout
    events = read_events(out / "events.parquet")  # what `shequn-ml validate` reads; warnings fail the test
    assert len(events) == 22
    removed = events.loc[events["event_type"] == "removed", "member_id"].astype(str)
    assert sorted(removed) == ["wx_lei", "wx_spam"]
    assert len(read_members(out / "members.parquet")) == 7
    assert len(read_groups(out / "groups.parquet")) == 2
    report = json.loads((out / "import-report.json").read_text(encoding="utf-8"))
    assert report["format"] == "csv" and report["events"] == 22
    assert report["skipped"] == {"ignored label: 群公告": 1, "unknown label: 抽奖": 2,
                                 "unknown label: 系统提示": 1}
    assert main(["validate", str(out / "events.parquet")]) == 0
    assert "problems found: 0" in capsys.readouterr().out


def test_tz_and_group_options_reach_the_importer(tmp_path, capsys):
    source = tmp_path / "one_group.csv"
    source.write_text("时间,成员ID,行为\n2024-03-01 09:00:00,a,入群\n", encoding="utf-8")
    mapping = tmp_path / "m.yaml"
    mapping.write_text("columns: {时间: ts, 成员ID: member_id, 行为: event_type}\n"
                       "constants: {group_id: 读书会1群}\n", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["import", "csv", str(source), "--mapping", str(mapping), "--out", str(out),
                 "--tz", "UTC", "--group", "读书会3群"]) == 0
    events = pd.read_parquet(out / "events.parquet")
    assert events["ts"].tolist() == [pd.Timestamp("2024-03-01 09:00", tz="UTC")]
    assert events["group_id"].astype(str).tolist() == ["读书会3群"]
    capsys.readouterr()


def test_pseudonymised_ids_differ_from_raw_are_stable_and_the_key_is_nowhere(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SHEQUN_IMPORT_KEY", KEY)
    first, second = tmp_path / "run1", tmp_path / "run2"
    assert _import(first, "--pseudonymise-key-env", "SHEQUN_IMPORT_KEY") == 0
    assert _import(second, "--pseudonymise-key-env", "SHEQUN_IMPORT_KEY") == 0
    stdout = capsys.readouterr().out
    assert KEY not in stdout
    assert "member ids pseudonymised with the key in $SHEQUN_IMPORT_KEY" in stdout
    a, b = pd.read_parquet(first / "events.parquet"), pd.read_parquet(second / "events.parquet")
    pd.testing.assert_frame_equal(a, b)
    ids = set(a["member_id"].astype(str)) | set(a["target_member_id"].dropna().astype(str))
    assert len(set(a["member_id"].astype(str))) == 5
    assert all(i.startswith("p_") and len(i) == 18 for i in ids)
    assert not ids & RAW_IDS
    members = pd.read_parquet(first / "members.parquet")
    assert not set(members["member_id"].astype(str)) & RAW_IDS
    assert not set(members["invited_by"].dropna().astype(str)) & RAW_IDS
    # the owner removed wx_spam: still one removed event per removed member, not the owner's
    removed = a.loc[a["event_type"] == "removed", "member_id"].astype(str)
    owner = a.loc[a["event_id"] == "csv:line2", "member_id"].astype(str).iloc[0]
    assert owner not in set(removed) and len(set(removed)) == 2
    for folder in (first, second):
        for f in folder.rglob("*"):
            if f.is_file():
                data = f.read_bytes()
                assert KEY.encode() not in data, f
                assert not [raw for raw in RAW_IDS if raw.encode() in data], f
    monkeypatch.setenv("SHEQUN_IMPORT_KEY", KEY + "-other")
    third = tmp_path / "run3"
    assert _import(third, "--pseudonymise-key-env", "SHEQUN_IMPORT_KEY") == 0
    capsys.readouterr()
    c = pd.read_parquet(third / "events.parquet")
    assert not set(c["member_id"].astype(str)) & set(a["member_id"].astype(str))


# --------------------------------------------------------------------------- one-line errors, exit 2


def test_csv_without_mapping_is_refused(tmp_path, capsys):
    assert main(["import", "csv", str(CSV), "--out", str(tmp_path / "o")]) == 2
    assert "the csv format needs --mapping FILE" in _one_line_error(capsys)
    assert not (tmp_path / "o").exists()


def test_mapping_for_another_format_is_refused(tmp_path, capsys):
    assert main(["import", "wechat", str(CSV), "--mapping", str(MAPPING), "--out", str(tmp_path / "o")]) == 2
    assert "--mapping is for the csv format only, not wechat" in _one_line_error(capsys)


def test_unknown_format_is_refused(tmp_path, capsys):
    assert main(["import", "fax", str(CSV), "--out", str(tmp_path / "o")]) == 2
    line = _one_line_error(capsys)
    assert ("unknown format 'fax': choose one of slack, linelog, wechat, qq, wecom, telegram, discord, "
            "csv") in line


def test_bad_tz_is_refused(tmp_path, capsys):
    assert _import(tmp_path / "o", "--tz", "Asia/Shanghia") == 2
    assert "--tz: unknown time zone 'Asia/Shanghia'" in _one_line_error(capsys)


@pytest.mark.parametrize("value", [None, ""])
def test_unset_or_empty_key_variable_is_refused(tmp_path, capsys, monkeypatch, value):
    if value is None:
        monkeypatch.delenv("SHEQUN_NO_SUCH_KEY", raising=False)
    else:
        monkeypatch.setenv("SHEQUN_NO_SUCH_KEY", value)
    assert _import(tmp_path / "o", "--pseudonymise-key-env", "SHEQUN_NO_SUCH_KEY") == 2
    line = _one_line_error(capsys)
    assert ("--pseudonymise-key-env SHEQUN_NO_SUCH_KEY: the environment variable SHEQUN_NO_SUCH_KEY is "
            "unset or empty") in line
    assert not (tmp_path / "o").exists()


def test_malformed_input_is_one_line(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["import", "csv", str(DATA / "malformed_time.csv"), "--mapping", str(MAPPING),
                 "--out", str(out)]) == 2
    line = _one_line_error(capsys)
    assert f"{DATA / 'malformed_time.csv'}: line 4, field '时间': cannot read '2024-03-01 25:61:00'" in line
    assert not out.exists()


def test_malformed_mapping_is_one_line(tmp_path, capsys):
    mapping = tmp_path / "bad.yaml"
    mapping.write_text("columns:\n  时间: ts\n  成员ID: member\n", encoding="utf-8")
    assert main(["import", "csv", str(CSV), "--mapping", str(mapping), "--out", str(tmp_path / "o")]) == 2
    assert f"{mapping}: key 'columns.成员ID': Input should be" in _one_line_error(capsys)


def test_missing_input_and_out_on_the_input_are_refused(tmp_path, capsys):
    assert main(["import", "csv", str(tmp_path / "nope.csv"), "--mapping", str(MAPPING),
                 "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in _one_line_error(capsys)
    source = tmp_path / "export.csv"
    source.write_bytes(CSV.read_bytes())
    assert main(["import", "csv", str(source), "--mapping", str(MAPPING), "--out", str(source)]) == 2
    assert "is an existing file; expected a folder" in _one_line_error(capsys)
    assert source.read_bytes() == CSV.read_bytes()


def test_out_inside_an_input_folder_is_refused(tmp_path, capsys, monkeypatch):
    """A folder export (Slack) must not receive the import: write_import checks the input."""
    export = tmp_path / "export"
    export.mkdir()
    (export / "actions.csv").write_bytes(CSV.read_bytes())

    def folder_reader(path, **options):
        return read_export("csv", Path(path) / "actions.csv", mapping=MAPPING)

    import types

    module = types.ModuleType("shequn_ml.importers.folderfmt")
    module.read_folder = folder_reader
    monkeypatch.setitem(sys.modules, "shequn_ml.importers.folderfmt", module)
    monkeypatch.setitem(FORMATS, "folderfmt", "folderfmt:read_folder")
    assert main(["import", "folderfmt", str(export), "--out", str(export / "imported")]) == 2
    assert "is the export 1 input" in _one_line_error(capsys)
    assert not (export / "imported" / "events.parquet").exists()


def test_console_script_has_no_traceback(tmp_path):
    bad = DATA / "malformed_fields.csv"
    proc = subprocess.run([sys.executable, "-m", "shequn_ml.cli", "import", "csv", str(bad),
                           "--mapping", str(MAPPING), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"shequn-ml import: {bad}: line 6, field '<csv>': 9 fields, the header has 8"]


# --------------------------------------------------------------------------- per-format options
FIXTURES = Path(__file__).parent / "data" / "importers"


def test_format_options_reach_their_importers(tmp_path, capsys):
    wecom = FIXTURES / "wecom"
    assert main(["import", "wecom", str(wecom / "chat.jsonl"), "--out", str(tmp_path / "w"),
                 "--snapshot", str(wecom / "members.json"),
                 "--snapshot", str(wecom / "members-later.json")]) == 0
    # the snapshots give the joins, so the import has them
    joins = read_events(tmp_path / "w" / "events.parquet")["event_type"].astype(str).eq("join").sum()
    assert joins == 6
    assert main(["import", "telegram", str(FIXTURES / "telegram" / "result-account.json"),
                 "--out", str(tmp_path / "t"), "--chat", "跑步群"]) == 0
    groups = read_events(tmp_path / "t" / "events.parquet")["group_id"].astype(str).unique()
    assert len(groups) == 1
    assert main(["import", "wechat", str(FIXTURES / "wechat" / "reading-club_utf8.csv"),
                 "--out", str(tmp_path / "x"), "--self-id", "wxid_me"]) == 0
    members = set(read_events(tmp_path / "x" / "events.parquet")["member_id"].astype(str))
    assert "wxid_me" in members and "self" not in members
    capsys.readouterr()


@pytest.mark.parametrize("args, match", [
    (["telegram", "--snapshot", "x.json"], "--snapshot is for the wecom format only, not telegram"),
    (["wecom", "--chat", "跑步群"], "--chat is for the telegram format only, not wecom"),
    (["wecom", "--snapshot", "no-such.json"], "--snapshot no-such.json is not a file"),
])
def test_format_options_are_refused_elsewhere(tmp_path, capsys, args, match):
    fmt, *rest = args
    src = {"telegram": FIXTURES / "telegram" / "result.json", "wecom": FIXTURES / "wecom" / "chat.jsonl"}[fmt]
    assert main(["import", fmt, str(src), "--out", str(tmp_path / "o"), *rest]) == 2
    assert match in _one_line_error(capsys)
