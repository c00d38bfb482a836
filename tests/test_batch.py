"""The nightly job end to end (shequn_ml/batch.py through `shequn-ml score`)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from shequn_ml.cli import main

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
CUTOFF = "2024-06-20"

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning",
                                        "ignore::UserWarning")


def _score(uri: str, out: Path, *extra: str) -> int:
    return main(["score", "--events", str(SAMPLE / "events.parquet"),
                 "--members", str(SAMPLE / "members.parquet"), "--groups", str(SAMPLE / "groups.parquet"),
                 "--cutoff", CUTOFF, "--out", str(out), "--tracking-uri", uri, "--quiet", *extra])


@pytest.fixture(scope="module")
def first_run(logged_quickstart, tmp_path_factory):
    uri = logged_quickstart[2]
    out = tmp_path_factory.mktemp("score") / "scores.parquet"
    assert _score(uri, out, "--csv") == 0
    return uri, out


def test_the_job_writes_every_member_once_and_logs_the_run(first_run):
    from mlflow import MlflowClient

    from shequn_ml.contacts import contact_columns
    from shequn_ml.outputs import check_output_set
    from shequn_ml.scoring import OUTPUT_COLUMNS

    uri, out = first_run
    table = pd.read_parquet(out)
    assert list(table.columns) == OUTPUT_COLUMNS
    members = pd.read_parquet(SAMPLE / "members.parquet")
    events = pd.read_parquet(SAMPLE / "events.parquet", columns=["ts", "group_id", "member_id"])
    acted = events.loc[events["ts"] < pd.Timestamp(CUTOFF, tz="UTC"), ["group_id", "member_id"]]
    roster = pd.concat([members[["group_id", "member_id"]], acted]).drop_duplicates()
    assert len(table) == len(roster)
    assert not table.duplicated(["group_id", "member_id"]).any()
    csv = pd.read_csv(out.with_suffix(".csv"))
    assert len(csv) == len(table) and list(csv.columns) == OUTPUT_COLUMNS
    # the contact list beside it, in the same output set
    contacts = pd.read_parquet(out.with_suffix(".contacts.parquet"))
    assert list(contacts.columns) == contact_columns("both")
    assert contacts.groupby("group_id").size().max() == 10
    assert len(pd.read_csv(out.with_suffix(".contacts.csv"))) == len(contacts)
    listed = [f["file"] for f in check_output_set(out.with_suffix(".manifest.json"))["files"]]
    assert listed == ["scores.parquet", "scores.csv", "scores.contacts.parquet", "scores.contacts.csv"]
    client = MlflowClient(uri, registry_uri=uri)
    exp = client.get_experiment_by_name("shequn-scoring")
    runs = client.search_runs([exp.experiment_id], order_by=["attributes.start_time DESC"])
    run = runs[0]
    assert run.data.params["cutoff"] == CUTOFF
    assert run.data.metrics["rows.rows_out"] == len(table)
    assert run.data.metrics["rows.status.scored"] == (table["status"] == "scored").sum()
    assert run.data.params["model.kol"] == table["kol_model_version"].iloc[0]
    assert "seconds.features" in run.data.metrics
    assert run.data.tags["shequn.output_digest"]


def test_a_rerun_is_byte_identical(first_run, tmp_path):
    uri, out = first_run
    again = tmp_path / "again.parquet"
    assert _score(uri, again, "--no-log") == 0
    assert again.read_bytes() == out.read_bytes()
    contacts = ".contacts.parquet"
    assert again.with_suffix(contacts).read_bytes() == out.with_suffix(contacts).read_bytes()


def test_a_bad_alias_or_store_is_one_line_and_exit_2(first_run, tmp_path, capsys):
    uri, _ = first_run
    out = tmp_path / "never.parquet"
    assert _score(uri, out, "--model-alias", "no-such-alias") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no-such-alias" in err and "shequn-silence-quickstart-test" in err
    assert _score(f"sqlite:///{tmp_path / 'missing.db'}", out) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "does not exist" in err
    assert not out.exists()


def test_bad_input_is_refused_before_any_work(first_run, tmp_path, capsys):
    uri, _ = first_run
    bad = tmp_path / "events.csv"
    bad.write_text("ts,group_id,member_id,event_type\n2024-01-01,g1,u1,message\nyesterday,g1,u2,message\n")
    out = tmp_path / "never.parquet"
    code = main(["score", "--events", str(bad), "--cutoff", CUTOFF, "--out", str(out),
                 "--tracking-uri", f"sqlite:///{tmp_path / 'missing.db'}", "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    # the validation message (file, column, row), not the missing store: input is checked first
    assert "events.csv" in err and "'ts'" in err and "yesterday" in err
    assert not out.exists()
    assert _score(uri, out, "--engine", "spark", "--groups-per-call", "0") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--groups-per-call must be 1 or more, got 0" in err
    assert not out.exists()


def test_a_process_killed_mid_write_leaves_the_old_file(tmp_path):
    out = tmp_path / "scores.parquet"
    old = pd.DataFrame({"group_id": ["g"], "member_id": ["old"], "silence_risk": [0.5]})
    old.to_parquet(out)
    before = out.read_bytes()
    script = textwrap.dedent(f"""
        import os, signal
        import pandas as pd
        import pyarrow.parquet as pq
        from shequn_ml.scoring import write_scores

        real = pq.write_table

        def write_then_die(table, where, **kw):
            real(table.slice(0, len(table) // 2), where, **kw)  # half the rows reach the disk
            os.kill(os.getpid(), signal.SIGKILL)

        pq.write_table = write_then_die
        big = pd.DataFrame({{"group_id": ["g"] * 100_000, "member_id": [str(i) for i in range(100_000)],
                            "silence_risk": 0.1}})
        write_scores(big, {str(out)!r})
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr
    assert out.read_bytes() == before  # the old table, whole
    assert pd.read_parquet(out)["member_id"].tolist() == ["old"]
    fresh = tmp_path / "fresh.parquet"
    proc = subprocess.run([sys.executable, "-c", script.replace(str(out), str(fresh))],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9
    assert not fresh.exists()  # no half-written file under the real name


def test_nicknames_are_joined_as_of_the_cutoff(first_run, tmp_path, capsys):
    uri, _ = first_run
    scores = pd.read_parquet(first_run[1])
    a, b = scores.loc[scores["status"] == "scored", ["group_id", "member_id"]].astype(str).head(2).to_numpy()
    nick = pd.DataFrame({
        "member_id": [a[1], a[1], b[1]], "group_id": [a[0], a[0], b[0]],
        "nickname": ["阿明", "明哥", "小红"],
        "first_seen": pd.to_datetime(["2024-01-01", "2024-07-01", "2024-06-25"], utc=True),  # after t
        "last_seen": pd.to_datetime(["2024-06-01", "2024-07-02", "2024-06-26"], utc=True)})
    nick.to_parquet(tmp_path / "nicknames.parquet")
    out = tmp_path / "named.parquet"
    assert _score(uri, out, "--nicknames", str(tmp_path / "nicknames.parquet"), "--no-log") == 0
    named = pd.read_parquet(out)
    assert list(named.columns[:3]) == ["group_id", "member_id", "nickname"]
    by_key = {(g, m): n for g, m, n in named[["group_id", "member_id", "nickname"]].astype(object)
              .itertuples(index=False)}
    assert by_key[(a[0], a[1])] == "阿明"      # the name of then, not the later rename
    assert pd.isna(by_key[(b[0], b[1])])       # first seen after the cutoff: not shown
    assert len(named) == len(scores)
    nick.drop(columns="nickname").to_parquet(tmp_path / "bad.parquet")
    assert _score(uri, tmp_path / "x.parquet", "--nicknames", str(tmp_path / "bad.parquet"), "--no-log") == 2
    assert "no column 'nickname'" in capsys.readouterr().err


def test_one_language_the_previous_night_a_smaller_contact_list_and_a_workbook(first_run, tmp_path, capsys):
    import openpyxl

    from shequn_ml.contacts import contact_columns
    from shequn_ml.outputs import check_output_set
    from shequn_ml.scoring import output_columns

    uri, out = first_run
    night = tmp_path / "night1" / "scores.parquet"
    assert _score(uri, night, "--no-log", "--cutoff", "2024-06-13", "--contacts-per-group", "0") == 0
    assert sorted(p.name for p in night.parent.iterdir()) == ["scores.manifest.json", "scores.parquet"]
    capsys.readouterr()
    nxt = tmp_path / "night2" / "scores.parquet"
    assert _score(uri, nxt, "--no-log", "--previous", str(night), "--lang", "zh", "--contacts-per-group", "2",
                  "--csv-bom", "--xlsx") == 0
    printed = capsys.readouterr().out
    assert "changed since --previous" in printed and "contact list:" in printed
    table = pd.read_parquet(nxt)
    assert list(table.columns) == output_columns("zh")
    contacts = pd.read_parquet(nxt.with_suffix(".contacts.parquet"))
    assert list(contacts.columns) == contact_columns("zh")
    assert contacts.groupby("group_id").size().max() == 2
    info = check_output_set(nxt.with_suffix(".manifest.json"))
    assert [f["file"] for f in info["files"]] == ["scores.parquet", "scores.csv", "scores.contacts.parquet",
                                                  "scores.contacts.csv", "scores.xlsx"]
    assert 0 <= info["tier_changes"]["silence_tier"] < 0.2
    for csv in (nxt.with_suffix(".csv"), nxt.with_suffix(".contacts.csv")):
        assert csv.read_bytes().startswith(b"\xef\xbb\xbf")  # Excel reads the Chinese as UTF-8
    wb = openpyxl.load_workbook(nxt.with_suffix(".xlsx"), read_only=True)
    assert wb.sheetnames == ["scores", "contacts"]
    rows = list(wb["contacts"].iter_rows(values_only=True))
    assert list(rows[0]) == list(contacts.columns) and len(rows) == len(contacts) + 1
    assert rows[1][contacts.columns.get_loc("reason_1_zh")] == contacts["reason_1_zh"].iloc[0]
    assert wb["scores"].max_row == len(table) + 1
    # tonight's tiers moved against last night's: the job says how many changed, and it is few
    last = pd.read_parquet(night).set_index(["group_id", "member_id"])["silence_tier"]
    now = table.set_index(["group_id", "member_id"])["silence_tier"]
    both = last.reindex(now.index).fillna("").ne("") & now.ne("")
    assert info["tier_changes"]["silence_tier"] == pytest.approx(
        (last.reindex(now.index)[both] != now[both]).mean(), abs=1e-6)
    # a rerun gives the same workbook, byte for byte
    again = tmp_path / "night2b" / "scores.parquet"
    assert _score(uri, again, "--no-log", "--previous", str(night), "--lang", "zh",
                  "--contacts-per-group", "2", "--csv-bom", "--xlsx") == 0
    assert again.with_suffix(".xlsx").read_bytes() == nxt.with_suffix(".xlsx").read_bytes()


def test_a_previous_night_that_is_not_earlier_or_is_the_output_is_refused(first_run, tmp_path, capsys):
    uri, out = first_run
    never = tmp_path / "never.parquet"
    assert _score(uri, never, "--no-log", "--previous", str(out)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not before this run's 2024-06-20" in err
    assert _score(uri, never, "--no-log", "--previous", str(tmp_path / "missing.parquet")) == 2
    assert "missing.parquet does not exist" in capsys.readouterr().err
    same = tmp_path / "same.parquet"
    pd.read_parquet(out).to_parquet(same)
    assert _score(uri, same, "--no-log", "--previous", str(same)) == 2
    assert "is the previous input" in capsys.readouterr().err
    assert not never.exists()
