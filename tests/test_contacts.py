"""Risk tiers with hysteresis, tier churn, and the contact list (shequn_ml/contacts.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shequn_ml.contacts import (
    ACTIONS,
    TierPolicy,
    contact_columns,
    contact_list,
    previous_tiers,
    suggest_action,
    tier_churn,
)
from shequn_ml.split import DataError

CUT = pd.Timestamp("2024-06-20", tz="UTC")


def _scores(rows: list[dict]) -> pd.DataFrame:
    """A scores table with the columns contact_list reads; unspecified cells are empty."""
    base = {"status": "scored", "cutoff": CUT, "silence_risk": np.nan, "churn_risk": np.nan,
            "silence_tier": "", "churn_tier": "", "kol_rank_in_group": None}
    for task in ("silence", "churn"):
        for k in (1, 2, 3):
            base.update({f"{task}_reason_{k}_feature": "", f"{task}_reason_{k}_en": "",
                         f"{task}_reason_{k}_zh": ""})
    t = pd.DataFrame([{**base, **r} for r in rows])
    t["kol_rank_in_group"] = t["kol_rank_in_group"].astype("Int64")
    return t


# ---------------------------------------------------------------------------- tiers
def test_plain_thresholds_and_members_without_a_score():
    p = TierPolicy(high=0.6, low=0.3, margin=0.05)
    got = p.assign([0.0, 0.2999, 0.3, 0.5999, 0.6, 1.0, np.nan])
    assert got.tolist() == ["低", "低", "中", "中", "高", "高", ""]


def test_a_risk_oscillating_around_a_threshold_holds_its_tier_but_a_real_jump_moves_it():
    p, plain = TierPolicy(margin=0.05), TierPolicy(margin=0.0)
    nights = [0.58, 0.62, 0.59, 0.63, 0.57, 0.61,  # noise around the 0.6 threshold
              0.75,                                # a real rise
              0.62, 0.58,                          # back into the band: holds 高
              0.50,                                # a real fall below 0.6 - margin
              0.27, 0.33, 0.28, 0.24]              # around the 0.3 threshold, then clearly below
    tiers, prev = [], None
    for r in nights:
        t = p.assign([r], None if prev is None else [prev])[0]
        tiers.append(t)
        prev = t
    assert tiers == ["中"] * 6 + ["高", "高", "高", "中", "中", "中", "中", "低"]
    flips = [plain.assign([r])[0] for r in nights]
    assert sum(a != b for a, b in zip(flips, flips[1:], strict=False)) > \
        sum(a != b for a, b in zip(tiers, tiers[1:], strict=False))
    # two tiers at once when the jump is large enough, from either side
    assert p.assign([0.9], ["低"]).tolist() == ["高"]
    assert p.assign([0.1], ["高"]).tolist() == ["低"]
    assert p.assign([0.64], ["低"]).tolist() == ["中"]  # past low + margin, not past high + margin
    # a member new tonight (no tier last night) gets the plain thresholds
    assert p.assign([0.61, 0.29], ["", None]).tolist() == ["高", "低"]


def test_tier_policy_refuses_bad_thresholds():
    with pytest.raises(ValueError, match=r"0 < low < high < 1, got low=0.7, high=0.6"):
        TierPolicy(high=0.6, low=0.7)
    with pytest.raises(ValueError, match=r"margin must be at least 0 and below half the gap"):
        TierPolicy(margin=0.2)
    with pytest.raises(ValueError, match=r"2 previous tiers for 1 risks"):
        TierPolicy().assign([0.5], ["中", "中"])


def test_tier_churn_counts_members_tiered_on_both_nights():
    a = pd.DataFrame({"group_id": ["g", "g", "g", "g", "h"], "member_id": ["a", "b", "c", "d", "a"],
                      "churn_tier": ["高", "中", "低", "", "中"]})
    b = pd.DataFrame({"group_id": ["g", "g", "g", "g", "x"], "member_id": ["a", "b", "c", "d", "a"],
                      "churn_tier": ["高", "高", "中", "低", "中"]})
    # a, b, c are tiered on both nights (d had none, h/a and x/a are on one night only): 2 of 3 changed
    assert tier_churn(a, b, "churn_tier") == pytest.approx(2 / 3)
    assert tier_churn(a, a, "churn_tier") == 0.0
    assert np.isnan(tier_churn(a.iloc[:0], b, "churn_tier"))
    with pytest.raises(ValueError, match=r"prev has no column 'silence_tier'"):
        tier_churn(a, b)


def test_previous_tiers_are_read_checked_and_derived_from_risk_when_missing(tmp_path):
    old = pd.DataFrame({"group_id": ["g", "g"], "member_id": ["a", "b"], "cutoff": CUT - pd.Timedelta(days=1),
                        "silence_tier": ["高", ""], "silence_risk": [0.1, np.nan], "churn_risk": [0.65, 0.1]})
    got = previous_tiers(old, CUT)
    assert got["silence_tier"].tolist() == ["高", ""]  # the tier as written, not re-derived from risk
    assert got["churn_tier"].tolist() == ["高", "低"]   # no churn_tier column: plain thresholds on the risk
    path = tmp_path / "prev.parquet"
    old.to_parquet(path)
    assert previous_tiers(path, CUT).equals(got)
    with pytest.raises(DataError, match=r"of the cutoff 2024-06-19 00:00, not before this run's 2024-06-19"):
        previous_tiers(old, CUT - pd.Timedelta(days=1))
    with pytest.raises(DataError, match=r"previous scores .*nope\.parquet does not exist"):
        previous_tiers(tmp_path / "nope.parquet", CUT)
    with pytest.raises(DataError, match=r"no column 'member_id'"):
        previous_tiers(old.drop(columns="member_id"), CUT)
    with pytest.raises(DataError, match=r"appears more than once"):
        previous_tiers(pd.concat([old, old]), CUT)


# ---------------------------------------------------------------------------- actions
@pytest.mark.parametrize(("top", "paid", "churn", "action"), [
    ("benefit_only_share_90d", False, (), "offer_benefit"),          # comes only for red packets
    ("red_packet_claims_30d", True, ("days_since_speak",), "offer_benefit"),
    ("partners_quiet_or_left_share", False, (), "introduce"),         # reply partners left
    ("partners_out", True, (), "introduce"),
    ("days_since_speak", True, ("speak_count_30d", "days_to_expiry"), "renewal_reminder"),
    ("benefit_only_share_90d", True, ("renewals",), "renewal_reminder"),  # the lapse comes first
    ("days_to_expiry", False, ("days_to_expiry",), "check_in"),       # not paid: no renewal, no benefit
    ("days_since_speak", False, (), "check_in"),
    ("group_speak_per_member_7d", False, (), "check_in"),
    (None, False, (), "check_in"),
])
def test_the_action_follows_the_top_reasons_family(top, paid, churn, action):
    assert suggest_action(top, paid=paid, churn_features=churn) == action
    assert action in ACTIONS


# ---------------------------------------------------------------------------- contact list
def test_contacts_are_ranked_by_risk_times_value_and_capped_per_group():
    rng = np.random.default_rng(3)
    rows = []
    for g, n in (("g1", 15), ("g2", 4)):
        for i in range(n):
            rows.append({"group_id": g, "member_id": f"{g}-m{i:02d}", "silence_risk": rng.random(),
                         "churn_risk": rng.random() * 0.5, "kol_rank_in_group": i + 1})
    rows.append({"group_id": "g1", "member_id": "gone", "status": "left_before_cutoff"})
    rows.append({"group_id": "g1", "member_id": "silent", "silence_risk": np.nan, "churn_risk": np.nan})
    rows.append({"group_id": "g3", "member_id": "alone", "status": "no_usable_history"})
    scores = _scores(rows)
    paid = {"g1-m03", "g1-m07", "g2-m02"}
    members = pd.DataFrame({"group_id": scores["group_id"], "member_id": scores["member_id"],
                            "paid": scores["member_id"].isin(paid)})
    out = contact_list(scores, members)
    assert list(out.columns) == contact_columns("both")
    assert out.groupby("group_id").size().to_dict() == {"g1": 10, "g2": 4}  # cap 10; g3 has nobody scored
    assert not out["member_id"].isin(["gone", "silent", "alone"]).any()
    # the expected order, computed here from the documented formula
    s = scores.loc[scores["silence_risk"].notna()].copy()
    n_ranked = s.groupby("group_id")["kol_rank_in_group"].transform("count")
    influence = 1 - (s["kol_rank_in_group"].astype(float) - 1) / (n_ranked - 1)
    value = 1 + influence + s["member_id"].isin(paid)
    s["priority"] = np.maximum(s["silence_risk"], s["churn_risk"]) * value
    for g, grp in out.groupby("group_id"):
        want = s.loc[s["group_id"] == g].sort_values(["priority", "member_id"], ascending=[False, True])
        assert grp["member_id"].tolist() == want["member_id"].head(10).tolist()
        assert grp["rank"].tolist() == list(range(1, len(grp) + 1))
        np.testing.assert_allclose(grp["priority"], want["priority"].head(10), rtol=1e-12)
    assert out.loc[out["member_id"] == "g1-m03", "paid"].item()
    assert contact_list(scores, members, per_group=3).groupby("group_id").size().tolist() == [3, 3]
    # weights: influence alone orders members of equal risk by their KOL rank
    flat = scores.assign(silence_risk=0.5, churn_risk=0.1)
    top = contact_list(flat, None, per_group=3, paid_weight=0.0)
    assert top.loc[top["group_id"] == "g1", "member_id"].tolist() == ["g1-m00", "g1-m01", "g1-m02"]
    with pytest.raises(ValueError, match=r"per_group must be a positive integer, got 0"):
        contact_list(scores, per_group=0)
    with pytest.raises(ValueError, match=r"paid_weight must be a number >= 0, got -1"):
        contact_list(scores, paid_weight=-1)


def test_contact_entries_carry_the_reasons_tier_and_action_of_the_larger_risk():
    scores = _scores([
        {"group_id": "g", "member_id": "bene", "silence_risk": 0.7, "churn_risk": 0.2, "silence_tier": "高",
         "churn_tier": "低", "silence_reason_1_feature": "benefit_only_share_90d",
         "silence_reason_1_en": "comes mostly for red packets and coupons (90% of activity)",
         "silence_reason_1_zh": "主要为红包和优惠券而来（占活动90%）"},
        {"group_id": "g", "member_id": "lonely", "silence_risk": 0.1, "churn_risk": 0.5, "silence_tier": "低",
         "churn_tier": "中", "churn_reason_1_feature": "partners_quiet_or_left_share",
         "churn_reason_1_en": "75% of their conversation partners went quiet or left",
         "churn_reason_1_zh": "互动对象中已沉默或退群的占75%"},
        {"group_id": "g", "member_id": "lapsing", "silence_risk": np.nan, "churn_risk": 0.4,
         "churn_tier": "中", "churn_reason_1_feature": "days_since_speak",
         "churn_reason_2_feature": "days_to_expiry", "churn_reason_1_en": "no message for 9 days",
         "churn_reason_2_en": "membership expires in 3 days"},
        {"group_id": "g", "member_id": "quiet", "silence_risk": 0.3, "churn_risk": 0.05, "silence_tier": "中",
         "churn_tier": "低", "silence_reason_1_feature": "days_since_speak"},
    ])
    members = pd.DataFrame({"group_id": ["g"] * 4, "member_id": ["bene", "lonely", "lapsing", "quiet"],
                            "paid": [False, False, True, False]})
    out = contact_list(scores, members).set_index("member_id")
    what = ["action_code", "reason_task", "tier"]
    assert out.loc["bene", what].tolist() == ["offer_benefit", "silence", "高"]
    assert out.loc["bene", "reason_1_zh"] == "主要为红包和优惠券而来（占活动90%）"
    assert out.loc["lonely", what].tolist() == ["introduce", "churn", "中"]
    assert out.loc["lonely", "reason_1_en"].startswith("75% of their conversation partners")
    assert out.loc["lapsing", ["action_code", "reason_task"]].tolist() == ["renewal_reminder", "churn"]
    assert out.loc["lapsing", "reason_2_en"] == "membership expires in 3 days"
    assert out.loc["lapsing", "action_zh"] == ACTIONS["renewal_reminder"][1]
    assert out.loc["quiet", "action_code"] == "check_in"
    en = contact_list(scores, members, lang="en")
    assert list(en.columns) == contact_columns("en")
    assert not any(c.endswith("_zh") for c in en.columns)


def test_a_table_with_nobody_scored_gives_an_empty_list_not_an_error():
    scores = _scores([{"group_id": "g", "member_id": "a", "status": "left_before_cutoff"},
                      {"group_id": "g", "member_id": "b", "status": "not_joined_by_cutoff"}])
    out = contact_list(scores, None)
    assert len(out) == 0 and list(out.columns) == contact_columns("both")
