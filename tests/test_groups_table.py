"""The nightly job's groups table: group-health scores joined with the member-level views."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shequn_ml.features.snapshots import EventHistory
from shequn_ml.groups_table import at_risk_share, groups_table, operator_tables, role_counts
from shequn_ml.io import read_events, read_groups, read_members
from shequn_ml.roles import ROLES

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
CUTOFF = pd.Timestamp("2024-06-01", tz="UTC")


@pytest.fixture(scope="module")
def sample():
    ev = read_events(SAMPLE / "events.parquet")
    mem, gr = read_members(SAMPLE / "members.parquet"), read_groups(SAMPLE / "groups.parquet")
    history = EventHistory(ev, members=mem, groups=gr)
    keys = history.at(CUTOFF).keys_frame().astype({"group_id": str, "member_id": str})
    rng = np.random.default_rng(0)
    scores = keys.assign(status="scored", silence_risk=rng.random(len(keys)),
                         churn_risk=rng.random(len(keys)) * 0.4)
    scores.loc[scores.index[::7], ["status", "silence_risk", "churn_risk"]] = ["left_before_cutoff", np.nan,
                                                                              np.nan]
    scores["kol_rank_in_group"] = scores.groupby("group_id")["silence_risk"].rank(method="first")
    return ev, history, scores


def test_every_group_gets_one_row_with_its_members_views(sample):
    ev, history, scores = sample
    table, roles = operator_tables(ev, history, CUTOFF, scores)
    assert table["group_id"].is_unique and len(table) == 30
    stated = {"no_group_health_model", "no_speaking_in_window", "not_created_by_cutoff"}
    assert table["status"].isin(stated).all()
    # share at risk: scored members with a risk of at least 0.5 (no tiers in this table)
    s = scores[scores["status"] == "scored"]
    expected = ((s["silence_risk"] >= 0.5) | (s["churn_risk"] >= 0.5)).groupby(s["group_id"]).mean()
    got = table.set_index("group_id")["share_members_at_risk"]
    np.testing.assert_allclose(got.reindex(expected.index), expected.to_numpy())
    assert (table.set_index("group_id")["members_scored"].reindex(expected.index)
            == s.groupby("group_id").size()).all()
    # role mix sums to one in every group with members; the head wolf is the rank-1 member
    shares = table[[f"role_share_{r}" for r in ROLES]]
    has = shares.notna().all(axis=1)
    np.testing.assert_allclose(shares[has].sum(axis=1), 1.0)
    top = scores.loc[scores["kol_rank_in_group"] == 1].set_index("group_id")["member_id"]
    wolves = table.set_index("group_id")["head_wolf"]
    assert (wolves[wolves != ""] == top.reindex(wolves[wolves != ""].index)).all()
    assert (wolves != "").sum() >= 20
    assert len(roles) == len(history.at(CUTOFF).keys_frame())


def test_tiers_decide_who_is_at_risk_when_present():
    scores = pd.DataFrame({"group_id": ["g"] * 4, "member_id": list("abcd"),
                           "status": ["scored", "scored", "scored", "left_before_cutoff"],
                           "silence_risk": [0.9, 0.9, 0.1, np.nan], "silence_tier": ["中", "高", "低", ""]})
    assert at_risk_share(scores).to_dict() == pytest.approx({"g": 1 / 3})


def test_groups_without_scored_members_have_no_share_and_signals_join():
    gs = pd.DataFrame({"group_id": ["g", "h"], "status": ["no_group_health_model"] * 2})
    scores = pd.DataFrame({"group_id": ["g"], "member_id": ["a"], "status": ["scored"],
                           "silence_risk": [0.7]})
    sig = pd.DataFrame({"group_id": ["g"], "silence_members_explained": [1],
                        "silence_group_signal_1_en": ["the group is quiet"]})
    out = groups_table(gs, scores, signals=sig)
    assert out["share_members_at_risk"].tolist()[0] == 1.0 and np.isnan(out["share_members_at_risk"][1])
    assert out["silence_members_explained"].tolist() == [1, 0]
    assert out["silence_group_signal_1_en"].tolist() == ["the group is quiet", ""]


def test_roles_table_is_checked():
    with pytest.raises(ValueError, match=r"column 'role' has values that are not roles: \['boss'\]"):
        role_counts(pd.DataFrame({"group_id": ["g"], "member_id": ["a"], "role": ["boss"]}))
    with pytest.raises(ValueError, match="neither a 'role' nor a 'role_zh' column"):
        role_counts(pd.DataFrame({"group_id": ["g"], "member_id": ["a"]}))
