"""The command line: exit codes, messages on stderr, never a traceback."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from shequn_ml.cli import main

HEADER = "ts,group_id,member_id,event_type,event_id,target_member_id\n"


def test_validate_good_file_prints_summary_and_exits_0(write_csv, capsys):
    path = write_csv(HEADER + "2024-01-01,g1,a,join,1,\n2024-01-02,g1,a,message,2,\n"
                     "2024-01-03,g2,b,reply,3,a\n2024-01-03,g2,b,reply,3,a\n")
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "rows:         3" in out
    assert "members:      2" in out
    assert "groups:       2" in out
    assert "2024-01-01 00:00 to 2024-01-03 00:00 UTC (2.0 days)" in out
    assert re.search(r"^  reply\s+1  \(speaking\)$", out, re.M)
    assert re.search(r"^  join\s+1$", out, re.M)
    assert "1 rows repeat an earlier event_id" in out
    assert "the data is usable" in out


def test_validate_bad_file_exits_2_with_message_on_stderr(write_csv, capsys):
    path = write_csv(HEADER + "2024-01-01,g1,a,join,1,\nnot-a-date,g1,a,mesage,2,\n")
    assert main(["validate", str(path)]) == 2
    captured = capsys.readouterr()
    assert f"{path}: column 'ts': 1 values do not parse" in captured.err
    assert "did you mean 'message'?" in captured.err
    assert "not usable" in captured.err
    assert "the data is usable" not in captured.out


def test_validate_checks_members_and_groups_tables(write_csv, capsys):
    events = write_csv(HEADER + "2024-01-01,g1,a,join,1,\n")
    members = write_csv("member_id,group_id,paid\na,g1,maybe\n", "members.csv")
    groups = write_csv("group_id,capacity\ng1,500\n", "groups.csv")
    assert main(["validate", str(events), "--members", str(members), "--groups",
                 str(groups)]) == 2
    err = capsys.readouterr().err
    assert f"{members}: column 'paid': 1 values are not true/false" in err


def test_console_script_has_no_traceback_on_bad_input(write_csv):
    path = write_csv("")
    proc = subprocess.run([sys.executable, "-m", "shequn_ml.cli", "validate", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert f"{path}: the file is empty" in proc.stderr


def test_missing_subcommand_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2


def test_features_command_writes_a_table(write_csv, tmp_path, capsys):
    import pandas as pd

    path = write_csv(HEADER + "2024-01-01,g1,a,join,1,\n2024-01-02,g1,a,message,2,\n"
                     "2024-01-09,g1,b,message,3,\n")
    out = tmp_path / "features.parquet"
    assert main(["features", "--events", str(path), "--cutoff", "2024-01-05", "--cutoff",
                 "2024-01-10", "--out", str(out), "--quiet"]) == 0
    table = pd.read_parquet(out)
    assert len(table) == 3 and table["cutoff"].nunique() == 2
    assert "3 rows" in capsys.readouterr().out


def test_features_command_needs_a_cutoff_and_a_valid_spec(write_csv, tmp_path, capsys):
    path = write_csv(HEADER + "2024-01-01,g1,a,join,1,\n")
    out = tmp_path / "f.parquet"
    assert main(["features", "--events", str(path), "--out", str(out)]) == 2
    assert "a cutoff is required" in capsys.readouterr().err
    spec = tmp_path / "spec.yaml"
    spec.write_text("windowz: [7]\n")
    assert main(["features", "--events", str(path), "--cutoff", "2024-02-01", "--spec", str(spec),
                 "--out", str(out)]) == 2
    assert f"{spec}: key 'windowz': Extra inputs are not permitted" in capsys.readouterr().err
    assert not out.exists()


def test_score_refuses_bad_operator_options_before_any_work(write_csv, tmp_path, capsys):
    path = write_csv(HEADER + "2024-01-01,g1,a,join,1,\n")
    base = ["score", "--events", str(path), "--cutoff", "2024-02-01", "--out", str(tmp_path / "s.parquet"),
            "--tracking-uri", f"sqlite:///{tmp_path / 'none.db'}", "--quiet"]
    assert main([*base, "--contacts-per-group", "-1"]) == 2
    assert "--contacts-per-group must be 0 or more (0: no contact list), got -1" in capsys.readouterr().err
    assert main([*base, "--group-reasons", "--engine", "spark"]) == 2
    assert "--group-reasons is not supported by the Spark engine yet" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main([*base, "--lang", "fr"])
    assert info.value.code == 2
    assert "invalid choice: 'fr'" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists() and not (tmp_path / "s.parquet").exists()
