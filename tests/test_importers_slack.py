"""The Slack workspace-export importer (shequn_ml/importers/slack.py).

The real export (houstondatavis/slack-export in /work/shared/data) is checked against
figures counted here by walking its JSON files with plain ``json``; the fixtures in
tests/data/importers/slack/ pin exact values and the error messages. The last test
imports the Slack export and a Gitter room, trains the quickstart experiment on each
and scores every member.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import zipfile
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from shequn_ml.importers import ImportFormatError, write_import
from shequn_ml.importers.slack import read_slack_export
from shequn_ml.io import read_events, read_groups, read_members

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
REAL = SHARED / "slack-export"
FIX = REPO / "tests" / "data" / "importers" / "slack"

SPEAKING = {None, "file_share", "me_message", "thread_broadcast"}


def _need(path: Path) -> Path:
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"the real data {path} is missing (CI is set)")
        pytest.skip(f"the real data {path} is not on this machine")
    return path


def _counts(result) -> dict[str, int]:
    return {str(k): int(v) for k, v in result.events["event_type"].value_counts().items() if v}


# --------------------------------------------------------------------------- the real export

@pytest.fixture(scope="module")
def real():
    return read_slack_export(_need(REAL))


@pytest.fixture(scope="module")
def walked():
    """Figures from the export's JSON files, counted without the importer."""
    root = _need(REAL)
    users = json.loads((root / "users.json").read_text())
    bots = {u["id"] for u in users if u.get("is_bot")} | {"USLACKBOT"}
    f: Counter[str] = Counter()
    f["subtypes"] = Counter()
    for day in sorted(root.glob("*/*.json")):
        msgs = json.loads(day.read_text())
        for m in msgs:
            sub = m.get("subtype")
            f["subtypes"][sub] += 1
            if sub == "channel_join":
                f["join"] += 1
                f["invite"] += bool(m.get("inviter")) and m["inviter"] != m["user"]
            elif sub == "channel_leave":
                f["leave"] += 1
            speaking = (sub in SPEAKING and m.get("user") not in bots) or sub == "file_comment"
            if not speaking:
                f["reactions on other records"] += sum(len(r["users"]) for r in m.get("reactions", []))
                continue
            author = m["comment"]["user"] if sub == "file_comment" else m["user"]
            text = m["comment"]["comment"] if sub == "file_comment" else m.get("text", "")
            if sub == "file_share":  # Slack writes the uploader first: "<@U1|ann> uploaded a file"
                text = re.sub(r"^<@U[A-Z0-9]+(\|[^>]*)?>\s*", "", text)
            f["speaking"] += 1
            f["post"] += sub == "file_share"
            if m.get("thread_ts") and m["thread_ts"] != m["ts"]:
                f["thread replies"] += 1
            if sub == "file_comment" and m["file"]["user"] != author:
                f["file comment replies"] += 1
            named = set(re.findall(r"<@(U[A-Z0-9]+)", text))
            f["mention"] += len(named - {author})
            f["self mention"] += text.count(f"<@{author}")
            for r in m.get("reactions", []):
                f["reaction"] += len(set(r["users"]) - {author})
                f["self reaction"] += author in r["users"]
    return f


def test_real_export_memberships_match_the_json(real, walked):
    c = _counts(real)
    assert walked["join"] == 320 and c["join"] == walked["join"]
    assert c["invite"] == walked["invite"] == 11
    assert c["leave"] == walked["leave"] == 3
    assert "removed" not in c
    # every invite is the inviter's, aimed at the member who joined at the same ts
    ev = real.events
    inv = ev[ev["event_type"] == "invite"]
    joins = ev.set_index("event_id")
    for _, row in inv.iterrows():
        join = joins.loc[row["event_id"].removesuffix(":invite")]
        assert join["event_type"] == "join" and join["member_id"] == row["target_member_id"]
        assert row["member_id"] != row["target_member_id"]


def test_real_export_speaking_mentions_reactions_match_the_json(real, walked):
    c = _counts(real)
    assert c.get("message", 0) + c.get("question", 0) + c.get("reply", 0) + c["post"] == walked["speaking"]
    assert c["post"] == walked["post"] == 61
    assert walked["thread replies"] == 0  # this export predates threads ...
    assert c["reply"] == walked["file comment replies"] == 5  # ... its replies are comments on files
    assert c["mention"] == walked["mention"] == 155
    assert c["reaction"] == walked["reaction"] == 189
    assert real.skipped["self reaction"] == walked["self reaction"]
    assert real.skipped["reaction on a message not imported"] == walked["reactions on other records"]
    assert real.notes["reactions dated at their message"] == walked["reaction"]
    # reactions are dated at their message and aimed at its author
    ev = real.events.set_index("event_id")
    rx = real.events[real.events["event_type"] == "reaction"]
    msg = ev.loc[rx["ref_event_id"]]
    assert (msg["ts"].to_numpy() == rx["ts"].to_numpy()).all()
    assert (msg["member_id"].to_numpy() == rx["target_member_id"].to_numpy()).all()


def test_real_export_skips_are_counted_by_subtype(real, walked):
    sub = walked["subtypes"]
    for s in ("channel_purpose", "channel_archive", "channel_topic", "channel_name", "pinned_item",
              "bot_add"):
        assert real.skipped[f"system message: {s}"] == sub[s], s
    assert "system message: unknown" not in real.skipped
    kept = SPEAKING | {"channel_join", "channel_leave", "file_comment"}
    imported = sum(v for k, v in sub.items() if k in kept)
    system = sum(v for k, v in real.skipped.items() if k.startswith("system message"))
    assert imported + system == sum(sub.values())


def test_real_export_groups_members_and_names(real):
    channels = json.loads((REAL / "channels.json").read_text())
    users = {u["id"]: u for u in json.loads((REAL / "users.json").read_text())}
    groups = real.groups.set_index("group_id")
    folders = sorted(p.name for p in REAL.iterdir() if p.is_dir())
    assert sorted(groups.index) == folders
    for c in channels:
        assert groups.loc[c["name"], "owner_id"] == c["creator"]
        assert groups.loc[c["name"], "created_at"] == pd.Timestamp(int(c["created"]), unit="s", tz="UTC")
        listed = set(real.members.loc[real.members["group_id"] == c["name"], "member_id"])
        assert set(c["members"]) <= listed
    assert set(real.events["member_id"]) <= set(users)
    names = real.nicknames.drop_duplicates("member_id").set_index("member_id")["nickname"]
    for uid, name in names.items():
        u = users[uid]
        expected = u["profile"].get("display_name") or u.get("real_name") or u["profile"].get("real_name") \
            or u["name"]
        assert name == expected
    admins = sum(bool(u.get("is_admin") or u.get("is_owner")) for u in users.values())
    assert real.notes["workspace admins/owners in users.json (not in the contract)"] == admins


def test_real_export_writes_a_valid_set_without_text(real, tmp_path):
    paths = write_import(real, tmp_path / "out")
    events = read_events(paths["events"])
    assert len(events) == len(real.events)
    read_members(paths["members"])
    read_groups(paths["groups"])
    texts = [m["text"] for day in REAL.glob("*/*.json") for m in json.loads(day.read_text())
             if len(m.get("text", "")) > 12]
    sample = set(texts[::25])
    for name in ("events", "members", "groups", "nicknames"):
        df = pd.read_parquet(paths[name])
        for col in df.columns:
            values = set(df[col].dropna().astype(str))
            assert not values & sample, (name, col)
    report = json.loads(paths["report"].read_text())
    assert report["event_types"]["join"] == 320


# --------------------------------------------------------------------------- the fixture

@pytest.fixture(scope="module")
def fix():
    return read_slack_export(FIX / "export")


def test_fixture_counts_by_type(fix):
    assert _counts(fix) == {"join": 5, "message": 4, "mention": 4, "reaction": 3, "reply": 3, "invite": 2,
                            "post": 1, "removed": 1, "leave": 1, "question": 1}
    assert len(fix.events) == 25
    assert fix.events["event_id"].is_unique


def test_fixture_invites_removal_and_leave(fix):
    ev = fix.events
    inv = ev[ev["event_type"] == "invite"].set_index("group_id")
    assert inv.loc["general", ["member_id", "target_member_id"]].tolist() == ["U1", "U2"]
    assert inv.loc["random", ["member_id", "target_member_id"]].tolist() == ["U2", "U3"]
    members = fix.members.set_index(["group_id", "member_id"])
    assert members.loc[("general", "U2"), "invited_by"] == "U1"
    assert members.loc[("general", "U2"), "joined_at"] == pd.Timestamp("2024-01-01 00:01:00.000002", tz="UTC")
    # "<@U4|dan> was removed from #general by <@U1|ann>": the removed member's event
    removed = ev[ev["event_type"] == "removed"]
    assert removed[["group_id", "member_id"]].values.tolist() == [["general", "U4"]]
    assert fix.notes["removals from leave text"] == 1
    assert ev.loc[ev["event_type"] == "leave", "member_id"].tolist() == ["U3"]
    # U5 is listed in channels.json without any event: a members row, no join date
    assert ("general", "U5") in members.index and pd.isna(members.loc[("general", "U5"), "joined_at"])


def test_fixture_threads_mentions_reactions(fix):
    ev = fix.events.set_index("event_id")
    parent = "slack:general:1704067320.000004"
    # parent_user_id given; parent looked up by thread_ts; file comment to the file's owner
    cols = ["member_id", "event_type", "target_member_id", "ref_event_id"]
    assert ev.loc["slack:general:1704067380.000005", cols].tolist() == ["U2", "reply", "U1", parent]
    assert ev.loc["slack:general:1704067400.000006", cols].tolist() == ["U3", "reply", "U1", parent]
    assert ev.loc["slack:general:1704153750.000003", cols[:3]].tolist() == ["U1", "reply", "U2"]
    # a reply in one's own thread and one to a parent outside the export stay messages
    assert ev.loc["slack:general:1704067420.000007", "event_type"] == "message"
    assert ev.loc["slack:random:1704153220.000003", "event_type"] == "message"
    assert fix.notes["thread reply to own message (kept as message)"] == 1
    assert fix.notes["thread reply whose parent is not in the export (kept as message)"] == 1
    # the link's "?x=1" is no question; "welcome?" is
    assert ev.loc[parent, "event_type"] == "message"
    assert ev.loc["slack:random:1704153230.000004", "event_type"] == "question"
    mentions = fix.events[fix.events["event_type"] == "mention"]
    assert sorted(zip(mentions["member_id"], mentions["target_member_id"], strict=True)) == \
        [("U1", "U2"), ("U2", "U1"), ("U2", "U3"), ("U4", "U3")]  # "<@U3> <@U3|cat>" is one mention
    assert fix.notes["mention of everyone (<!channel>, <!here>, <!everyone>)"] == 1
    rx = fix.events[fix.events["event_type"] == "reaction"]
    assert sorted(zip(rx["member_id"], rx["target_member_id"], strict=True)) == \
        [("U1", "U2"), ("U2", "U1"), ("U3", "U1")]
    assert fix.skipped["self reaction"] == 1
    assert fix.skipped["reaction on a message not imported"] == 1  # on the bot's message
    assert fix.notes["reactions counted beyond the listed users (not events)"] == 2


def test_fixture_skips_system_bot_and_unknown(fix):
    assert fix.skipped["bot message"] == 1
    assert fix.skipped["system message: channel_topic"] == 1
    assert fix.skipped["system message: unknown"] == 1
    assert fix.notes["unknown subtype huddle_confetti"] == 1
    assert "UBOT" not in set(fix.events["member_id"]) | set(fix.nicknames["member_id"])


def test_fixture_nicknames_change_over_time(fix):
    nk = fix.nicknames[fix.nicknames["group_id"] == "general"].set_index(["member_id", "nickname"])
    # U3 wrote as "cat" on 2024-01-01 (the message's user_profile); users.json now says "Cathy"
    assert nk.loc[("U3", "cat"), "first_seen"] == pd.Timestamp("2024-01-01 00:03:20.000006", tz="UTC")
    assert ("U3", "Cathy") in nk.index and ("U1", "Ann") in nk.index and ("U2", "Bob B") in nk.index
    assert ("U4", "dan") in nk.index  # no display or real name in users.json: the login name
    assert "nickname" not in fix.events.columns


def test_fixture_text_is_not_stored(fix, tmp_path):
    paths = write_import(fix, tmp_path / "out")
    read_events(paths["events"])
    for name in ("events", "members", "groups", "nicknames"):
        df = pd.read_parquet(paths[name])
        for col in df.columns:
            values = df[col].dropna().astype(str)
            assert not values.str.contains("thanks|welcome|nice chart|jobs", case=False).any(), (name, col)
    ev = read_events(paths["events"]).set_index("event_id")
    assert ev.loc["slack:general:1704067380.000005", "text_len"] == len("thanks!")


def test_channels_filter_by_name_or_id_and_zip(fix, tmp_path):
    only = read_slack_export(FIX / "export", channels=["C2"])
    assert set(only.events["group_id"]) == {"random"}
    assert only.events.equals(read_slack_export(FIX / "export", channels=["random"]).events)
    with pytest.raises(ValueError, match="no conversation folder"):
        read_slack_export(FIX / "export", channels=["jobs"])
    z = tmp_path / "export.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for f in (FIX / "export").rglob("*"):
            if f.is_file():
                zf.write(f, "houston export/" + f.relative_to(FIX / "export").as_posix())
    zipped = read_slack_export(z)
    pd.testing.assert_frame_equal(zipped.events, fix.events)
    assert zipped.skipped == fix.skipped


# --------------------------------------------------------------------------- errors

def test_malformed_json_names_file_and_position():
    with pytest.raises(ImportFormatError,
                       match=r"bad_json/general/2024-01-01\.json: line 3 column 35, field '<json>'"):
        read_slack_export(FIX / "bad_json")


def test_message_without_ts_names_file_record_and_field():
    with pytest.raises(ImportFormatError,
                       match=r"missing_ts/general/2024-01-01\.json: record 2, field 'ts': missing"):
        read_slack_export(FIX / "missing_ts")


def test_other_malformed_exports(tmp_path):
    d = tmp_path / "e"
    shutil.copytree(FIX / "missing_ts", d)
    day = d / "general" / "2024-01-01.json"
    day.write_text(json.dumps([{"type": "message", "user": "U1", "text": "x", "ts": "yesterday"}]))
    with pytest.raises(ImportFormatError, match=r"2024-01-01\.json: record 1, field 'ts': expected epoch"):
        read_slack_export(d)
    day.write_text(json.dumps([{"type": "message", "text": "who?", "ts": "1704067200.000001"}]))
    with pytest.raises(ImportFormatError, match=r"2024-01-01\.json: record 1, field 'user': missing"):
        read_slack_export(d)
    day.write_text(json.dumps({"messages": []}))
    with pytest.raises(ImportFormatError, match=r"2024-01-01\.json: top level, field '<json>'"):
        read_slack_export(d)
    (d / "users.json").unlink()
    with pytest.raises(ImportFormatError, match=r"users\.json: file, field '<file>': missing"):
        read_slack_export(d)
    with pytest.raises(ValueError, match="unknown time zone"):
        read_slack_export(FIX / "export", tz="Mars/Olympus")


# --------------------------------------------------------------------------- end to end

@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning")
def test_imports_train_and_score_end_to_end(tmp_path, monkeypatch, capsys):
    """Slack export and a Gitter room -> write_import -> `shequn-ml train` -> scores for every member.

    The quickstart trains silence, churn and KOL; churn is left out here because neither
    import has a positive churn label after the warm-up (the Slack export's 3 leaves fall in
    its first week, the Gitter log has no leaves at all), and ``train`` refuses a fold
    with one label. ``shequn-ml score`` then scores the tasks the community has, and says
    that churn is not scored.
    """
    import yaml

    from shequn_ml.cli import main
    from shequn_ml.importers.linelog import read_line_log
    from shequn_ml.scoring import STATUSES

    gitter = _need(SHARED / "gitter" / "gitter_gitter.txt.gz")
    imports = {"slack": read_slack_export(_need(REAL)), "gitter": read_line_log(gitter)}
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.chdir(tmp_path)  # MLflow's default artifact root ./mlruns goes under tmp_path
    every = {"slack": 21, "gitter": 42}
    models = {}
    for task, trees in (("silence", 300), ("kol", 200)):  # fewer trees: the test stays under a minute
        m = yaml.safe_load((REPO / "models" / f"{task}.yaml").read_text())
        m["params"]["n_estimators"] = trees
        if task == "silence":
            m["params"]["num_leaves"] = 4
        models[task] = tmp_path / f"model-{task}.yaml"
        models[task].write_text(yaml.safe_dump(m, allow_unicode=True))
    for name, result in imports.items():
        out = tmp_path / name
        write_import(result, out)
        spec = {"name": f"imported-{name}",
                "data": {"events": str(out / "events.parquet"), "members": str(out / "members.parquet"),
                         "groups": str(out / "groups.parquet")},
                "features": str(REPO / "features" / "default.yaml"),
                "models": {t: str(p) for t, p in models.items()},
                "cutoffs": {"every_days": every[name], "warmup_days": 35},
                "mlflow": {"experiment": f"imported-{name}", "tracking_uri": uri}}
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(spec))
        assert main(["train", str(tmp_path / f"{name}.yaml"), "--quiet"]) == 0

        events = read_events(out / "events.parquet")
        cutoff = (events["ts"].max() - pd.Timedelta(days=1)).normalize()
        capsys.readouterr()
        assert main(["score", "--events", str(out / "events.parquet"), "--members",
                     str(out / "members.parquet"), "--groups", str(out / "groups.parquet"),
                     "--cutoff", f"{cutoff:%Y-%m-%d}", "--out", str(tmp_path / f"{name}-scores.parquet"),
                     "--tracking-uri", uri, "--community", f"imported-{name}", "--quiet"]) == 0
        assert "no churn model is registered for this community" in capsys.readouterr().err
        table = pd.read_parquet(tmp_path / f"{name}-scores.parquet")

        # expected roster, counted here: every (group, member) with an event before the cutoff
        # or a members row; present = their latest event before the cutoff is not an exit
        before = pd.read_parquet(out / "events.parquet")
        before = before[before["ts"] < cutoff]
        keys = ["group_id", "member_id"]
        listed = pd.read_parquet(out / "members.parquet")[keys]
        roster = pd.concat([before[keys], listed]).astype(str).drop_duplicates()
        assert len(table) == len(roster)
        assert not table.duplicated(keys).any()
        last = before.sort_values("ts").groupby(keys, observed=True).tail(1)
        stays = last[~last["event_type"].isin(["leave", "removed"])]
        present = set(zip(stays["group_id"].astype(str), stays["member_id"].astype(str), strict=True))
        got = table[table["status"].isin(["scored", "no_usable_history"])]
        assert set(zip(got["group_id"].astype(str), got["member_id"].astype(str), strict=True)) == present
        assert set(table["status"]) <= set(STATUSES)
        scored = table[table["status"] == "scored"]
        assert len(scored) > 0 and scored["kol_score"].notna().all()
        assert table["churn_risk"].isna().all()  # no churn model
        assert table["silence_risk"].notna().sum() > 0
