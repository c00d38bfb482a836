"""Outputs of `shequn-ml score`: never over an input, together or not at all, shown warnings.

The fault-injection test kills the real command (``python -m shequn_ml.cli score``)
with SIGKILL at every fault point of :mod:`shequn_ml.outputs` and the batch job's
stages, and checks the output folder after each kill.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from shequn_ml.cli import main
from shequn_ml.outputs import (
    FAULT_ENV,
    OutputPathError,
    check_output_set,
    check_outputs,
    recover_output_set,
    write_output_set,
)

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
OLD_CUTOFF, NEW_CUTOFF = "2024-06-13", "2024-06-20"

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning",
                                        "ignore::UserWarning")


def _args(uri: str, out: Path, cutoff: str, *extra: str, events: Path | None = None) -> list[str]:
    return ["score", "--events", str(events or SAMPLE / "events.parquet"),
            "--members", str(SAMPLE / "members.parquet"), "--groups", str(SAMPLE / "groups.parquet"),
            "--cutoff", cutoff, "--out", str(out), "--tracking-uri", uri, "--quiet", *extra]


def _set(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


# ------------------------------------------------------------------ outputs never over inputs
def test_an_output_that_is_an_input_is_refused_before_anything_is_read(tmp_path, capsys):
    events = tmp_path / "export.csv"
    pd.read_parquet(SAMPLE / "events.parquet").head(50).to_csv(events, index=False)
    before = events.read_bytes()
    uri = f"sqlite:///{tmp_path / 'none.db'}"
    # the CSV sibling of --out is the input
    assert main(_args(uri, tmp_path / "export.parquet", NEW_CUTOFF, "--csv", events=events)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "export.csv is the events input" in err and "choose another --out" in err
    assert events.read_bytes() == before
    # through a symlink
    link = tmp_path / "link.parquet"
    link.symlink_to(SAMPLE / "members.parquet")
    with pytest.raises(OutputPathError, match=r"link\.parquet is the members input"):
        check_outputs([link], {"events": SAMPLE / "events.parquet", "members": SAMPLE / "members.parquet"})
    # a file inside a folder of Parquet parts
    parts = tmp_path / "parts"
    parts.mkdir()
    with pytest.raises(OutputPathError, match=r"is the events input .*parts"):
        check_outputs([parts / "scores.parquet"], {"events": parts})
    with pytest.raises(OutputPathError, match=r"is an existing folder"):
        check_outputs([parts], {"events": events})


@pytest.fixture
def small_filesystem(tmp_path):
    """Mount a tmpfs (root only): yields a function mounting one with the given options."""
    mounted = []

    def mount(options: str) -> Path:
        where = tmp_path / f"fs{len(mounted)}"
        where.mkdir()
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip()}): needs root, as in CI")
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        subprocess.run(["umount", str(where)], check=False)


def test_a_read_only_file_system_or_a_non_folder_is_refused_before_work(small_filesystem, tmp_path):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    with pytest.raises(OutputPathError, match=r"is not a folder"):
        check_outputs([not_a_folder / "scores.parquet"], {"events": SAMPLE / "events.parquet"})
    ro = small_filesystem("ro,size=1m")
    with pytest.raises(OutputPathError, match=r"fs0 is not writable"):
        check_outputs([ro / "out" / "scores.parquet"], {"events": SAMPLE / "events.parquet"})


def test_a_full_disk_is_one_line_and_leaves_nothing(two_sets, small_filesystem, capsys):
    uri, _ = two_sets
    full = small_filesystem("size=64k")
    assert main(_args(uri, full / "scores.parquet", NEW_CUTOFF, "--csv", "--no-log")) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "No space left on device" in err, err
    assert "scores.parquet" in err
    assert list(full.iterdir()) == []


# ------------------------------------------------------------------ the output set
def test_files_follow_the_umask_and_a_manifest_lists_their_digests(tmp_path):
    old = os.umask(0o022)
    try:
        manifest = write_output_set({tmp_path / "a.csv": lambda t: Path(t).write_text("a\n")},
                                    tmp_path / "a.manifest.json", {"rows": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.csv").stat().st_mode) == 0o644
    info = check_output_set(manifest)
    assert info["rows"] == 1 and info["files"][0]["file"] == "a.csv"
    (tmp_path / "a.csv").write_text("changed\n")
    with pytest.raises(OutputPathError, match=r"differs from the manifest"):
        check_output_set(manifest)


def test_a_failing_writer_leaves_the_previous_set_and_no_temporary_file(tmp_path):
    files = {tmp_path / "t.parquet": lambda t: Path(t).write_text("one"),
             tmp_path / "t.csv": lambda t: Path(t).write_text("one")}
    manifest = write_output_set(files, tmp_path / "t.manifest.json", {"run": 1})
    before = _set(tmp_path)

    def explode(tmp: str) -> None:
        Path(tmp).write_text("half")
        raise OSError("No space left on device")

    with pytest.raises(OSError, match="No space left"):
        write_output_set({tmp_path / "t.parquet": lambda t: Path(t).write_text("two"),
                          tmp_path / "t.csv": explode}, manifest, {"run": 2})
    assert _set(tmp_path) == before


def test_recovery_finishes_a_committed_set_and_removes_strays(tmp_path):
    dest, manifest = tmp_path / "s.parquet", tmp_path / "s.manifest.json"
    tmp_file = tmp_path / ".s.parquet.abc.tmp"
    tmp_file.write_text("new")
    tmp_manifest = tmp_path / ".s.manifest.json.abc.tmp"
    tmp_manifest.write_text(json.dumps({"files": [{"file": "s.parquet", "bytes": 3, "sha256":
                                                   __import__("hashlib").sha256(b"new").hexdigest()}]}))
    (tmp_path / ".s.manifest.json.journal").write_text(json.dumps(
        {"moves": [[str(tmp_file), str(dest)], [str(tmp_manifest), str(manifest)]]}))
    (tmp_path / ".s.parquet.zzz.tmp").write_text("stray of another killed run")
    assert recover_output_set(manifest, [dest]) == "completed"
    assert dest.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.manifest.json", "s.parquet"]
    check_output_set(manifest)
    assert recover_output_set(manifest, [dest]) == "clean"


# ------------------------------------------------------------------ the real job, killed
FAULT_POINTS = [
    "stage:read", "stage:load models", "stage:roster", "stage:features", "stage:score silence",
    "stage:score churn", "stage:score kol", "stage:assemble", "stage:write",
    "write:tmp:scores.parquet", "write:tmp:scores.csv", "write:tmp:scores.contacts.parquet",
    "write:tmp:scores.contacts.csv", "write:tmp:manifest", "write:journal-tmp",
    "write:journal", "write:rename:0", "write:rename:1", "write:rename:2", "write:rename:3",
    "write:rename:4", "write:done",
    "stage:log", "stage:logged",
]


#: The files of one run with --csv, the manifest aside (the table, the contact list, their CSVs).
SET_FILES = ["scores.parquet", "scores.csv", "scores.contacts.parquet", "scores.contacts.csv"]


@pytest.fixture(scope="module")
def two_sets(logged_quickstart, tmp_path_factory):
    """A complete output set at the old cutoff and one at the new cutoff."""
    uri = logged_quickstart[2]
    sets = {}
    for cutoff in (OLD_CUTOFF, NEW_CUTOFF):
        folder = tmp_path_factory.mktemp(f"set-{cutoff}")
        assert main(_args(uri, folder / "scores.parquet", cutoff, "--csv")) == 0
        sets[cutoff] = _set(folder)
    assert sets[OLD_CUTOFF]["scores.parquet"] != sets[NEW_CUTOFF]["scores.parquet"]
    assert sorted(sets[NEW_CUTOFF]) == ["scores.contacts.csv", "scores.contacts.parquet", "scores.csv",
                                        "scores.manifest.json", "scores.parquet"]
    return uri, sets


@pytest.mark.slow
def test_killed_at_any_point_the_output_is_the_old_set_or_the_new_one(two_sets, tmp_path):
    uri, sets = two_sets
    old, new = sets[OLD_CUTOFF], sets[NEW_CUTOFF]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    outcomes = {}
    for i, point in enumerate(FAULT_POINTS):
        folder = tmp_path / f"kill-{i}"
        folder.mkdir()
        for name, data in old.items():
            (folder / name).write_bytes(data)
        proc = subprocess.run([sys.executable, "-m", "shequn_ml.cli",
                               *_args(uri, folder / "scores.parquet", NEW_CUTOFF, "--csv")],
                              env={**env, FAULT_ENV: point}, capture_output=True, text=True, timeout=600)
        assert proc.returncode == -9, f"{point}: not killed (rc {proc.returncode}): {proc.stderr[-500:]}"
        visible = {k: v for k, v in _set(folder).items() if not k.startswith(".")}
        committed = (folder / ".scores.manifest.json.journal").exists()
        if committed:  # the next run (or any reader through recover_output_set) completes it
            assert recover_output_set(folder / "scores.manifest.json",
                                      [folder / n for n in SET_FILES]) == "completed"
            visible = _set(folder)
        outcomes[point] = "new" if visible == new else "old" if visible == old else "mixed"
        assert outcomes[point] != "mixed", f"{point}: a mix of the old and new outputs: {sorted(visible)}"
        if not committed and outcomes[point] == "old":
            recover_output_set(folder / "scores.manifest.json", [folder / n for n in SET_FILES])
        assert _set(folder).keys() == new.keys(), f"{point}: stray files {sorted(_set(folder))}"
    # the kill points before the commit keep the old set, those after it give the new one
    after_commit = FAULT_POINTS[FAULT_POINTS.index("write:journal"):]
    assert [p for p, o in outcomes.items() if o == "new"] == after_commit
    # and a plain next run over a folder a kill left behind ends with the new set and nothing else
    folder = tmp_path / "kill-then-rerun"
    folder.mkdir()
    for name, data in old.items():
        (folder / name).write_bytes(data)
    proc = subprocess.run([sys.executable, "-m", "shequn_ml.cli",
                           *_args(uri, folder / "scores.parquet", NEW_CUTOFF, "--csv", "--no-log")],
                          env={**env, FAULT_ENV: "write:tmp:manifest"}, capture_output=True, timeout=600)
    assert proc.returncode == -9
    assert any(p.name.endswith(".tmp") for p in folder.iterdir())
    assert main(_args(uri, folder / "scores.parquet", NEW_CUTOFF, "--csv", "--no-log")) == 0
    assert _set(folder) == new


# ------------------------------------------------------------------ warnings and the store
def test_data_warnings_are_shown_and_logged(two_sets, tmp_path, capsys):
    from mlflow import MlflowClient

    uri, _ = two_sets
    events = pd.read_parquet(SAMPLE / "events.parquet")
    extra = events[events["ts"] < pd.Timestamp(NEW_CUTOFF, tz="UTC")].tail(3).copy()
    extra["event_type"] = "reply"  # replies with no target are kept, with a warning
    extra["target_member_id"] = None
    extra["event_id"] = ["extra-1", "extra-2", "extra-3"]
    path = tmp_path / "events.parquet"
    pd.concat([events, extra], ignore_index=True).to_parquet(path)
    out = tmp_path / "out" / "scores.parquet"
    assert main(_args(uri, out, NEW_CUTOFF, events=path)) == 0
    err = capsys.readouterr().err
    warned = [line for line in err.splitlines() if line.startswith("shequn-ml score: warning:")]
    assert warned, err
    client = MlflowClient(uri, registry_uri=uri)
    exp = client.get_experiment_by_name("shequn-scoring")
    run = client.search_runs([exp.experiment_id], order_by=["attributes.start_time DESC"])[0]
    assert run.data.metrics["data_warnings"] == len(warned)
    text = Path(client.download_artifacts(run.info.run_id, "data_warnings.txt", str(tmp_path))).read_text()
    assert warned[0].removeprefix("shequn-ml score: warning: ") in text


def test_a_store_failing_after_the_write_is_its_own_exit_code(two_sets, tmp_path, capsys, monkeypatch):
    import shequn_ml.tracking as tracking

    uri, sets = two_sets

    def broken(*args, **kwargs):
        raise RuntimeError("(sqlite3.OperationalError) database is locked\n[SQL: INSERT ...]\n" + "x\n" * 160)

    monkeypatch.setattr(tracking, "log_scoring_run", broken)
    out = tmp_path / "scores.parquet"
    assert main(_args(uri, out, NEW_CUTOFF, "--csv")) == 3
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "the scores were written" in err and "database is locked" in err
    assert _set(tmp_path) == sets[NEW_CUTOFF]


def test_the_csv_can_carry_a_bom_for_excel(two_sets, tmp_path):
    uri, sets = two_sets
    out = tmp_path / "scores.parquet"
    assert main(_args(uri, out, NEW_CUTOFF, "--csv", "--csv-bom", "--no-log")) == 0
    for name in ("scores.csv", "scores.contacts.csv"):  # every CSV of the set, the contact list too
        data = (tmp_path / name).read_bytes()
        assert data.startswith(b"\xef\xbb\xbf") and data[3:] == sets[NEW_CUTOFF][name]
    shutil.rmtree(tmp_path)


@pytest.mark.parametrize("cutoff", ["2024-09-15", "2023-06-01"])
def test_a_cutoff_with_nobody_to_score_for_silence_still_gives_every_member_a_row(two_sets, tmp_path,
                                                                                  cutoff):
    uri, _ = two_sets
    out = tmp_path / "scores.parquet"
    assert main(_args(uri, out, cutoff, "--no-log")) == 0
    table = pd.read_parquet(out)
    members = pd.read_parquet(SAMPLE / "members.parquet")
    assert len(table) >= len(members.drop_duplicates(["group_id", "member_id"]))
    assert table["silence_risk"].isna().all()
    assert table["status"].notna().all() and table["note"].str.len().gt(0).all()
    if cutoff == "2024-09-15":  # after the data: members are present, their groups silent
        scored = table[table["status"] == "scored"]
        assert len(scored) and scored["note"].str.contains("nobody in this group spoke").all()
        assert scored["churn_risk"].notna().all()
    else:  # before all data: nobody has joined yet
        assert (table["status"] == "not_joined_by_cutoff").all()


def test_a_corrupt_store_fails_before_training_or_scoring(tmp_path, capsys):
    import yaml

    store = tmp_path / "mlflow.db"
    store.write_bytes(b"this is not a database\n" * 100)
    spec = yaml.safe_load((REPO / "experiments" / "quickstart.yaml").read_text())
    spec["mlflow"] = {**spec.get("mlflow", {}), "tracking_uri": f"sqlite:///{store}"}
    for key in ("events", "members", "groups", "truth"):
        if key in spec.get("data", {}):
            spec["data"][key] = str(REPO / spec["data"][key])
    for key in ("features",):
        spec[key] = str(REPO / spec[key])
    spec["models"] = {k: str(REPO / v) for k, v in spec["models"].items()}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["train", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is not an SQLite database" in err, err
    assert main(_args(f"sqlite:///{store}", tmp_path / "s.parquet", NEW_CUTOFF)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is not an SQLite database" in err, err
    assert store.read_bytes() == b"this is not a database\n" * 100


def test_new_experiments_keep_their_artifacts_beside_the_store(two_sets, tmp_path, monkeypatch):
    from mlflow import MlflowClient

    uri, _ = two_sets
    monkeypatch.chdir(tmp_path)
    assert main(_args(uri, tmp_path / "s.parquet", NEW_CUTOFF)) == 0
    assert not (tmp_path / "mlruns").exists()
    client = MlflowClient(uri, registry_uri=uri)
    location = client.get_experiment_by_name("shequn-scoring").artifact_location
    assert location == (Path(uri.removeprefix("sqlite:///")).parent / "mlruns").as_uri()


def test_a_model_whose_files_were_deleted_says_so(tmp_path):
    from mlflow import MlflowClient

    from shequn_ml.scoring import ModelUnavailableError
    from shequn_ml.tracking import load_bundle

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri, registry_uri=uri)
    client.create_registered_model("shequn-silence")
    gone = tmp_path / "deleted-artifacts" / "model"
    v = client.create_model_version("shequn-silence", source=gone.as_uri())
    client.set_registered_model_alias("shequn-silence", "champion", v.version)
    with pytest.raises(ModelUnavailableError,
                       match=r"cannot load models:/shequn-silence@champion .*: the files of version 1 are "
                             r"missing from the artifact store \(.*deleted-artifacts/model\)"):
        load_bundle("shequn-silence", tracking_uri=uri)


def test_a_renewing_member_missing_from_the_members_table_is_noted(two_sets, tmp_path):
    uri, _ = two_sets
    events = pd.read_parquet(SAMPLE / "events.parquet", columns=["ts", "group_id", "member_id", "event_type"])
    renewed = events[(events["event_type"] == "renew") & (events["ts"] < pd.Timestamp(NEW_CUTOFF, tz="UTC"))]
    members = pd.read_parquet(SAMPLE / "members.parquet")
    before = events[events["ts"] < pd.Timestamp(NEW_CUTOFF, tz="UTC")]
    gone = before.loc[before["event_type"].isin(["leave", "removed"]), ["group_id", "member_id"]]
    candidates = renewed[["group_id", "member_id"]].drop_duplicates().merge(
        gone.drop_duplicates(), how="left", indicator=True)
    key = candidates.loc[candidates["_merge"] == "left_only"].iloc[0]
    drop = (members["group_id"] == key["group_id"]) & (members["member_id"] == key["member_id"])
    assert drop.sum() == 1
    table_path = tmp_path / "members.parquet"
    members.loc[~drop].to_parquet(table_path)
    out = tmp_path / "scores.parquet"
    args = _args(uri, out, NEW_CUTOFF, "--no-log")
    args[args.index("--members") + 1] = str(table_path)
    assert main(args) == 0
    table = pd.read_parquet(out).set_index(["group_id", "member_id"])
    row = table.loc[(key["group_id"], key["member_id"])]
    assert row["status"] == "scored" and pd.notna(row["churn_risk"])
    assert "the member renewed, but the members table does not mark them paid" in row["note"]
    others = table.drop(index=(key["group_id"], key["member_id"]))
    assert not others["note"].str.contains("does not mark them paid").any()


def test_scratch_folders_of_killed_runs_are_removed_by_the_next(tmp_path):
    from shequn_ml.outputs import scratch_dir

    script = ("import os, signal, sys\nfrom shequn_ml.outputs import scratch_dir\n"
              f"with scratch_dir({str(tmp_path)!r}) as d:\n"
              "    (d / 'bundle.pkl').write_bytes(b'model')\n    os.kill(os.getpid(), signal.SIGKILL)\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert proc.returncode == -9
    left = list(tmp_path.iterdir())
    assert len(left) == 1 and (left[0] / "bundle.pkl").exists()
    with scratch_dir(tmp_path) as mine:
        assert list(tmp_path.iterdir()) == [mine]  # the killed run's folder is gone
    assert list(tmp_path.iterdir()) == []
