"""Bad command-line input: one line on stderr (``shequn-ml CMD: message``), exit 2, no traceback.

Every check here runs before any work starts, so most cases take milliseconds; the
data-shaped cases (a split with too few cutoffs, a fold with one label class) read a
tiny events file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd
import pytest

from shequn_ml import __version__
from shequn_ml.cli import EXIT_BAD_INPUT, main

HEADER = "ts,group_id,member_id,event_type,event_id,target_member_id\n"
REPO = Path(__file__).resolve().parents[1]
KOL_SPEC = str(REPO / "models" / "kol.yaml")
BAD_DATES = ["2024-02-30", "tomorrow", ""]
DATE_MESSAGE = r"expects an ISO date such as 2024-03-01 .*got '{}'"


def fails(argv: list[str], capsys, pattern: str) -> str:
    """Run ``main(argv)``: exit 2 and exactly one stderr line matching ``pattern``."""
    assert main(argv) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.rstrip("\n").split("\n")
    assert len(lines) == 1, err
    assert re.search(pattern, lines[0]), lines[0]
    return lines[0]


@pytest.fixture
def events(write_csv) -> str:
    return str(write_csv(HEADER + "2024-01-01,g1,a,join,1,\n2024-01-02,g1,a,message,2,\n"
                         "2024-01-09,g1,b,message,3,\n"))


@pytest.fixture(scope="module")
def busy(tmp_path_factory) -> str:
    """Four members who speak every day for 90 days, never to each other.

    Nobody falls silent (the silence label is 0 everywhere) and nobody draws a reply
    (every member's influence is 0).
    """
    rows = [("2024-01-01T10:00:00Z", "g1", m, "join", f"j{m}", "") for m in "abcd"]
    for d in pd.date_range("2024-01-02T10:00:00Z", periods=89, freq="D"):
        rows += [(d.isoformat(), "g1", m, "message", f"{m}{d:%m%d}", "") for m in "abcd"]
    path = tmp_path_factory.mktemp("busy") / "events.csv"
    pd.DataFrame(rows, columns=HEADER.strip().split(",")).to_csv(path, index=False)
    return str(path)


# ---- 1. dates that do not parse --------------------------------------------------------


@pytest.mark.parametrize("bad", BAD_DATES)
def test_score_refuses_a_cutoff_that_does_not_parse(events, tmp_path, capsys, bad):
    fails(["score", "--events", events, "--cutoff", bad, "--out", str(tmp_path / "s.parquet"),
           "--quiet", "--no-log"], capsys,
          r"^shequn-ml score: --cutoff " + DATE_MESSAGE.format(re.escape(bad)))
    assert not (tmp_path / "s.parquet").exists()


@pytest.mark.parametrize("bad", BAD_DATES)
@pytest.mark.parametrize("option", ["--cutoff", "--from", "--to"])
def test_features_refuses_dates_that_do_not_parse(events, tmp_path, capsys, option, bad):
    other = {"--cutoff": [], "--from": ["--to", "2024-02-01"], "--to": ["--from", "2024-01-01"]}
    out = tmp_path / "f.parquet"
    line = fails(["features", "--events", events, option, bad, *other[option], "--out", str(out),
                  "--quiet"], capsys,
                 rf"^shequn-ml features: {option} " + DATE_MESSAGE.format(re.escape(bad)))
    if bad == "2024-02-30":
        assert "day is out of range for month" in line
    assert not out.exists()


@pytest.mark.parametrize("bad", BAD_DATES)
@pytest.mark.parametrize("option", ["--from", "--to"])
@pytest.mark.parametrize("command", ["evaluate", "kol"])
def test_evaluate_and_kol_refuse_dates_that_do_not_parse(events, capsys, command, option, bad):
    fails([command, "--events", events, option, bad, "--quiet"], capsys,
          rf"^shequn-ml {command}: {option} " + DATE_MESSAGE.format(re.escape(bad)))


# ---- 2. ranges and counts -----------------------------------------------------------------


@pytest.mark.parametrize("command", ["features", "evaluate", "kol"])
def test_from_after_to_is_refused(events, tmp_path, capsys, command):
    extra = ["--out", str(tmp_path / "f.parquet")] if command == "features" else []
    fails([command, "--events", events, "--from", "2024-03-01", "--to", "2024-02-01", *extra,
           "--quiet"], capsys,
          rf"^shequn-ml {command}: --from must not be after --to, got --from 2024-03-01 and "
          r"--to 2024-02-01$")


@pytest.mark.parametrize("every", ["0", "-7"])
@pytest.mark.parametrize("command", ["features", "evaluate", "kol"])
def test_every_must_be_positive(events, tmp_path, capsys, command, every):
    extra = ["--out", str(tmp_path / "f.parquet")] if command == "features" else []
    fails([command, "--events", events, "--from", "2024-01-01", "--to", "2024-02-01",
           f"--every={every}", *extra, "--quiet"], capsys,
          rf"^shequn-ml {command}: --every must be 1 or more \(days between .*cutoffs\), "
          rf"got {every}$")


@pytest.mark.parametrize("horizon", ["0", "-14"])
def test_evaluate_horizon_must_be_positive(events, capsys, horizon):
    fails(["evaluate", "--events", events, f"--horizon={horizon}", "--quiet"], capsys,
          rf"^shequn-ml evaluate: --horizon must be 1 or more \(days of the label window\), "
          rf"got {horizon}$")


@pytest.mark.parametrize("option", ["--n-validation", "--n-test"])
@pytest.mark.parametrize("value", ["0", "-1"])
def test_kol_fold_sizes_must_be_at_least_one(events, capsys, option, value):
    fails(["kol", "--events", events, f"{option}={value}", "--quiet"], capsys,
          rf"^shequn-ml kol: {option} must be 1 or more \((validation|test) cutoffs\), "
          rf"got {value}$")


def test_evaluate_without_room_for_warmup_and_horizon_says_so(events, capsys):
    fails(["evaluate", "--events", events, "--quiet"], capsys,
          r"^shequn-ml evaluate: no cutoffs: the first \(2024-02-05: .* is after the last "
          r"\(2023-12-26: .*the events run 2024-01-01 to 2024-01-09")


# ---- 3. data that cannot support the split ------------------------------------------------


@pytest.mark.parametrize("command", ["evaluate", "kol"])
def test_too_few_cutoffs_for_the_split(busy, capsys, command):
    extra = ["--horizon", "7"] if command == "evaluate" else ["--spec", KOL_SPEC]
    fails([command, "--events", busy, "--from", "2024-02-01", "--to", "2024-02-10", *extra,
           "--quiet"], capsys,
          rf"^shequn-ml {command}: 2 cutoffs from 2024-02-01 to 2024-02-08 cannot make train, "
          r"2 validation and \d test cutoffs whose \d+-day label windows do not overlap")


def test_a_fold_with_one_label_class_only(busy, capsys):
    fails(["evaluate", "--events", busy, "--task", "silence", "--horizon", "7", "--from",
           "2024-02-01", "--to", "2024-03-20", "--quiet"], capsys,
          r"^shequn-ml evaluate: the train fold of the silence task has only label 0 \(\d+ rows\)")


def test_a_kol_fold_without_any_influence(busy, capsys):
    fails(["kol", "--events", busy, "--spec", KOL_SPEC, "--from", "2024-01-05", "--to",
           "2024-03-01", "--n-validation", "1", "--n-test", "1", "--quiet"], capsys,
          r"^shequn-ml kol: the train fold has no member with nonzero influence")


# ---- 4. simulate's arguments ----------------------------------------------------------------


@pytest.mark.parametrize(("args", "pattern"), [
    (["--members", "0", "--groups", "1", "--days", "30"],
     r"--members must be 10 or more \(distinct members in the world\), got 0$"),
    (["--members", "20", "--groups", "50", "--days", "30"],
     r"--members 20 is too few for --groups 50: every group needs at least"),
    (["--members", "500", "--groups", "5", "--days", "3"],
     r"--days must be from 14 to 3650 \(days of history to simulate\), got 3$"),
    (["--members", "500", "--groups", "5", "--days", "30", "--seed", "-1"],
     r"--seed must be 0 or more .*got -1$"),
    (["--members", "500", "--groups", "5", "--days", "30", "--start", "2024-13-01"],
     r"--start expects an ISO date such as 2024-01-01, got '2024-13-01' \(month must be"),
    (["--members", "500", "--groups", "5", "--days", "30", "--start", "tomorrow"],
     r"--start expects an ISO date such as 2024-01-01, got 'tomorrow'$"),
], ids=["no-members", "more-groups-than-members", "3-days", "negative-seed", "bad-start",
        "start-not-a-date"])
def test_simulate_refuses_bad_arguments(tmp_path, capsys, args, pattern):
    out = tmp_path / "world"
    fails(["simulate", *args, "--out", str(out), "--quiet"], capsys,
          r"^shequn-ml simulate: " + pattern)
    assert not out.exists()


def test_simulate_accepts_its_smallest_world(tmp_path, capsys):
    assert main(["simulate", "--members", "10", "--groups", "1", "--days", "14", "--out",
                 str(tmp_path / "w"), "--quiet"]) == 0
    assert (tmp_path / "w" / "events.parquet").exists()


def test_simulate_a_world_that_does_not_fit_leaves_no_folder(tmp_path, capsys):
    out = tmp_path / "world"
    fails(["simulate", "--members", "1500", "--groups", "2", "--days", "14", "--seed", "2",
           "--out", str(out), "--quiet"], capsys,
          r"^shequn-ml simulate: \d+ memberships do not fit in 2 groups")
    assert not out.exists()


# ---- 5. output paths --------------------------------------------------------------------------


def _deny_writes_in(monkeypatch, folder: Path) -> None:
    """Make ``folder`` read-only: chmod, and (root ignores modes) os.access says so too."""
    folder.chmod(0o555)
    real = os.access

    def access(path, mode, *args, **kwargs):
        if Path(path) == folder and mode & os.W_OK:
            return False
        return real(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)


@pytest.fixture
def read_only(tmp_path, monkeypatch):
    folder = tmp_path / "ro"
    folder.mkdir()
    _deny_writes_in(monkeypatch, folder)
    yield folder
    folder.chmod(0o755)


def test_features_out_is_an_existing_folder(events, tmp_path, capsys):
    fails(["features", "--events", events, "--cutoff", "2024-01-05", "--out", str(tmp_path),
           "--quiet"], capsys,
          rf"^shequn-ml features: output {re.escape(str(tmp_path))} is an existing folder")


def test_features_out_in_a_read_only_folder(events, read_only, capsys):
    fails(["features", "--events", events, "--cutoff", "2024-01-05", "--out",
           str(read_only / "f.parquet"), "--quiet"], capsys,
          rf"^shequn-ml features: output .*f\.parquet: folder {re.escape(str(read_only))} is not "
          "writable")


def test_features_out_under_a_file_cannot_be_made(events, capsys):
    fails(["features", "--events", events, "--cutoff", "2024-01-05", "--out",
           f"{events}/sub/f.parquet", "--quiet"], capsys,
          rf"^shequn-ml features: output .*: {re.escape(events)} is not a folder")


def test_features_out_would_overwrite_the_events(events, capsys):
    fails(["features", "--events", events, "--cutoff", "2024-01-05", "--out", events, "--quiet"],
          capsys, r"^shequn-ml features: output .* is the events input")


def test_features_out_in_a_missing_folder_is_created(events, tmp_path, capsys):
    out = tmp_path / "new" / "deeper" / "f.parquet"
    assert main(["features", "--events", events, "--cutoff", "2024-01-05", "--out", str(out),
                 "--quiet"]) == 0
    assert out.exists()


def test_simulate_out_is_an_existing_file(events, capsys):
    fails(["simulate", "--members", "100", "--groups", "2", "--days", "14", "--out", events,
           "--quiet"], capsys,
          rf"^shequn-ml simulate: --out {re.escape(events)} is an existing file; expected a "
          "folder")


def test_simulate_out_in_a_read_only_folder(read_only, capsys):
    for out in (read_only, read_only / "world"):
        fails(["simulate", "--members", "100", "--groups", "2", "--days", "14", "--out",
               str(out), "--quiet"], capsys,
              rf"^shequn-ml simulate: --out {re.escape(str(out))}: cannot write in the folder "
              rf"{re.escape(str(read_only))}")
    assert not (read_only / "world").exists()


def test_simulate_out_under_a_file_cannot_be_made(events, capsys):
    fails(["simulate", "--members", "100", "--groups", "2", "--days", "14", "--out",
           f"{events}/world", "--quiet"], capsys,
          rf"^shequn-ml simulate: --out .*: {re.escape(events)} is a file, not a folder")


@pytest.mark.parametrize("option", ["--out", "--candidates"])
def test_kol_outputs_are_checked_before_the_work(events, tmp_path, capsys, option):
    fails(["kol", "--events", events, option, str(tmp_path), "--quiet"], capsys,
          r"^shequn-ml kol: output .* is an existing folder")


# ---- 6. the simulator keeps its own contract ----------------------------------------------------


def test_simulated_members_table_has_one_row_per_member_and_group(tmp_path, capsys):
    """Seed 3 once dealt a member into one group twice (the swap's bookkeeping lost a pair)."""
    out = tmp_path / "w"
    assert main(["simulate", "--members", "500", "--groups", "5", "--days", "90", "--seed", "3",
                 "--out", str(out), "--quiet"]) == 0
    members = pd.read_parquet(out / "members.parquet")
    assert not members.duplicated(["member_id", "group_id"]).any()
    assert main(["validate", str(out / "events.parquet"), "--members",
                 str(out / "members.parquet"), "--groups", str(out / "groups.parquet")]) == 0
    assert "the data is usable" in capsys.readouterr().out


def test_memberships_are_dealt_to_distinct_groups_for_many_seeds():
    """A few large groups and members in two or three: duplicates to swap away are common."""
    import numpy as np

    from shequn_ml.simulate import SimulationConfig
    from shequn_ml.simulate._world import build_world

    for s in range(40):
        cfg = SimulationConfig(n_members=500, n_groups=5, days=30, seed=s, multi_group_share=0.2)
        world = build_world(cfg, np.random.default_rng(s))
        group = np.repeat(np.arange(world.n_groups), np.diff(world.slot_ptr))
        pairs = set(zip(group.tolist(), world.slot_member.tolist(), strict=True))
        assert len(pairs) == len(group), s


# ---- 7. --version --------------------------------------------------------------------------------


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"shequn-ml {__version__}\n"


def test_tz_reads_a_beijing_export_as_local_time(tmp_path, capsys):
    import pandas as pd

    path = tmp_path / "export.csv"
    path.write_text("ts,group_id,member_id,event_type\n2024-02-20 09:00:00,g1,u1,join\n"
                    "2024-02-20 09:05:00,g1,u2,join\n2024-02-25 10:00:00,g1,u2,message\n"
                    "2024-03-01 07:30:00,g1,u1,message\n", encoding="utf-8")
    out_utc, out_local = tmp_path / "utc.parquet", tmp_path / "local.parquet"
    args = ["features", "--events", str(path), "--cutoff", "2024-03-01", "--quiet"]
    assert main([*args, "--out", str(out_utc)]) == 0
    err = capsys.readouterr().err
    assert "shequn-ml features: warning:" in err and "4 timestamps carry no time zone" in err
    assert main([*args, "--out", str(out_local), "--tz", "Asia/Shanghai"]) == 0
    assert "carry no time zone" not in capsys.readouterr().err
    utc, local = (pd.read_parquet(p).set_index("member_id") for p in (out_utc, out_local))
    # 07:30 in Beijing is 23:30 UTC the evening before: inside the history only with --tz
    assert utc.loc["u1", "speak_count_7d"] == 0 and local.loc["u1", "speak_count_7d"] == 1
    fails(["validate", str(path), "--tz", "Beijing"], capsys,
          r"^shequn-ml validate: --tz: unknown time zone 'Beijing': use an IANA name")


def test_the_experiment_spec_takes_a_checked_time_zone(tmp_path, capsys):
    import yaml

    from shequn_ml.experiment import DataSpec

    assert DataSpec(events="e.parquet", tz="Asia/Shanghai").tz == "Asia/Shanghai"
    spec = yaml.safe_load((REPO / "experiments" / "quickstart.yaml").read_text())
    spec["data"] = {k: str(REPO / v) for k, v in spec["data"].items()} | {"tz": "Beijing"}
    spec["features"] = str(REPO / spec["features"])
    spec["models"] = {k: str(REPO / v) for k, v in spec["models"].items()}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(spec))
    fails(["train", str(path), "--quiet", "--no-tracking"], capsys,
          r"^shequn-ml train: .*unknown time zone 'Beijing'")
