"""SHAP values: exact, additive, equal to the shap package's; reason codes."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shequn_ml.explain import (
    Explanation,
    family_importance,
    feature_importance,
    group_signals,
    reason_codes,
    render_reason,
    shap_values,
    top_features,
)
from shequn_ml.models import ChurnModel, SilenceModel


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(1)
    n = 3000
    X = pd.DataFrame({
        "days_since_speak": rng.exponential(6, n),
        "speak_count_30d": rng.poisson(5, n).astype(float),
        "benefit_only_share_90d": rng.random(n),
        "partners_quiet_or_left_share": rng.random(n),
        "group_size": rng.integers(5, 500, n).astype(float),
    })
    logit = 0.3 * X.days_since_speak - 0.2 * X.speak_count_30d + 2 * X.benefit_only_share_90d - 2
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    model = SilenceModel(n_estimators=120, random_state=0).fit(X[:2000], y[:2000], X_val=X[2000:],
                                                               y_val=y[2000:])
    return model, X


SHAP_LIST_WARNING = "ignore:LightGBM binary classifier with TreeExplainer:UserWarning"


@pytest.mark.filterwarnings(SHAP_LIST_WARNING)
def test_values_equal_the_shap_packages_tree_explainer(fitted):
    shap = pytest.importorskip("shap")
    model, X = fitted
    ours = shap_values(model, X[:300])
    # the model predicts with its first best_iteration_ trees: give shap exactly those trees
    import lightgbm as lgb

    truncated = lgb.Booster(model_str=model.booster_.model_to_string(
        num_iteration=model.best_iteration_))
    assert truncated.num_trees() == model.best_iteration_ < model.n_estimators
    theirs = shap.TreeExplainer(truncated).shap_values(X[:300])
    theirs = theirs[1] if isinstance(theirs, list) else theirs
    np.testing.assert_allclose(ours.values.to_numpy(), theirs, atol=1e-6)


@pytest.mark.filterwarnings(SHAP_LIST_WARNING)
def test_shap_package_agrees_on_a_full_model():
    shap = pytest.importorskip("shap")
    rng = np.random.default_rng(2)
    X = pd.DataFrame({"a": rng.normal(size=500), "b": rng.normal(size=500)})
    y = (X.a + rng.normal(size=500) > 0).astype(int)
    model = ChurnModel(n_estimators=40, calibration=None, early_stopping_rounds=None).fit(X, y)
    ours = shap_values(model, X)
    theirs = shap.TreeExplainer(model.booster_).shap_values(X)
    theirs = theirs[1] if isinstance(theirs, list) else theirs
    np.testing.assert_allclose(ours.values.to_numpy(), theirs, atol=1e-6)


def test_additivity_on_the_raw_score(fitted):
    model, X = fitted
    ex = shap_values(model, X)
    np.testing.assert_allclose(ex.values.sum(axis=1) + ex.expected_value,
                               model.decision_function(X), atol=1e-6)


def test_reason_codes_are_the_top_positive_signals(fitted):
    model, X = fitted
    ex = shap_values(model, X[:200])
    top = top_features(ex, 3)
    values = ex.values.to_numpy()
    for i in range(200):
        names = [n for n in top.iloc[i] if isinstance(n, str)]
        contrib = ex.values.iloc[i]
        assert all(contrib[n] > 0 for n in names)
        assert len(names) == min(3, int((values[i] > 0).sum()))
        if names:
            assert contrib[names[0]] == contrib.max()
    reasons = reason_codes(ex, X[:200], lang="both")
    assert list(reasons.columns) == ["reason_1_en", "reason_1_zh", "reason_2_en", "reason_2_zh",
                                     "reason_3_en", "reason_3_zh"]
    row = int(np.argmax(ex.values["days_since_speak"].to_numpy()))
    assert top.iloc[row, 0] == "days_since_speak"
    days = round(X["days_since_speak"].iloc[row])
    assert days > 1  # the row that days_since_speak raised most was silent for long
    assert reasons.loc[reasons.index[row], ["reason_1_en", "reason_1_zh"]].tolist() == \
        [f"no message for {days} days", f"{days}天未发言"]
    # one language only, the same sentences
    pd.testing.assert_frame_equal(reason_codes(ex, X[:200], lang="en"),
                                  reasons[["reason_1_en", "reason_2_en", "reason_3_en"]])


def test_every_reason_cell_is_its_feature_rendered_with_the_row_value(fitted):
    model, X = fitted
    X = X[:300].copy()
    X.iloc[::7, X.columns.get_loc("days_since_speak")] = np.nan  # missing values render as "?"
    ex = shap_values(model, X)
    # member reasons leave the group-level group_size out
    top = top_features(ex, 3, exclude=["group_size"])
    reasons = reason_codes(ex, X, lang="zh", with_features=True)
    assert list(reasons.columns) == [f"reason_{j}_{part}" for j in (1, 2, 3) for part in ("feature", "zh")]
    for i in range(len(X)):
        for j in range(3):
            name = top.iloc[i, j]
            want = render_reason(name, float(X[name].iloc[i]), "zh") if isinstance(name, str) else ""
            assert reasons[f"reason_{j + 1}_zh"].iloc[i] == want
            assert reasons[f"reason_{j + 1}_feature"].iloc[i] == (name if isinstance(name, str) else "")


def test_rendering_and_rows_without_positive_signals():
    assert render_reason("benefit_only_share_90d", 0.8, "en") == \
        "comes mostly for red packets and coupons (80% of activity)"
    assert render_reason("partners_quiet_or_left_share", 0.75, "zh").endswith("75%")
    assert render_reason("not_a_feature", 2.5, "en") == "not_a_feature = 2.5"
    ex = Explanation(pd.DataFrame({"days_since_speak": [-1.0, 0.5]}), 0.0)
    reasons = reason_codes(ex, pd.DataFrame({"days_since_speak": [3.0, 9.0]}), k=1, lang="en")
    assert reasons["reason_1_en"].tolist() == ["", "no message for 9 days"]
    with pytest.raises(ValueError, match=r"lang must be 'en', 'zh' or 'both', got 'fr'"):
        reason_codes(ex, pd.DataFrame({"days_since_speak": [3.0, 9.0]}), lang="fr")


def test_group_level_features_are_not_member_reasons_unless_asked_for():
    rng = np.random.default_rng(4)
    n = 4000
    group = rng.integers(0, 40, n)
    size = rng.integers(5, 500, 40)[group].astype(float)  # one value per group
    X = pd.DataFrame({"days_since_speak": rng.exponential(6, n), "group_size": size,
                      "group_speak_per_member_7d": rng.exponential(1, 40)[group]})
    logit = 0.2 * X.days_since_speak + 0.01 * X.group_size - 1.5 * X.group_speak_per_member_7d - 2
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    model = ChurnModel(n_estimators=80, calibration=None, early_stopping_rounds=None).fit(X, y)
    ex = shap_values(model, X)
    assert (top_features(ex, 1)["feature_1"] == "group_size").mean() > 0.2  # the group often dominates
    member = reason_codes(ex, X, lang="en", with_features=True)
    assert set(member[["reason_1_feature", "reason_2_feature", "reason_3_feature"]].stack()) <= \
        {"days_since_speak", ""}
    assert (member["reason_2_feature"] == "").all()  # one member-level feature: one reason at most
    both = reason_codes(ex, X, lang="en", group_level=True, with_features=True)
    assert (both["reason_1_feature"] == "group_size").mean() > 0.2
    # per group: the mean SHAP value of each group-level feature over the group's rows
    signals = group_signals(ex, X, group, lang="both", with_features=True)
    assert signals["group_id"].tolist() == sorted(map(str, set(group)))
    assert signals["members_explained"].sum() == n
    means = ex.values[["group_size", "group_speak_per_member_7d"]].groupby(group).mean()
    for _, row in signals.iterrows():
        m = means.loc[int(row["group_id"])]
        positive = m[m > 0].sort_values(ascending=False, kind="stable")
        want = list(positive.index[:2]) + [""] * (3 - min(len(positive), 2))
        assert [row[f"group_signal_{k}_feature"] for k in (1, 2, 3)] == want[:3]
        if "group_size" in positive.index:
            size_of_group = float(size[group == int(row["group_id"])][0])
            k = list(positive.index).index("group_size") + 1
            assert row[f"group_signal_{k}_en"] == render_reason("group_size", size_of_group, "en")
            assert row[f"group_signal_{k}_zh"] == render_reason("group_size", size_of_group, "zh")
    with pytest.raises(ValueError, match=r"group_signals: 3 group ids for 4000 rows \(4000 explained\)"):
        group_signals(ex, X, ["a", "b", "c"])


def test_excluded_or_missing_columns_are_never_chosen_nor_repeated():
    ex = Explanation(pd.DataFrame({"a": [2.0, np.nan], "b": [1.0, 3.0], "group_size": [5.0, 5.0]}), 0.0)
    top = top_features(ex, 3, exclude=["group_size"])
    assert [[n if isinstance(n, str) else None for n in row] for row in top.to_numpy()] == \
        [["a", "b", None], ["b", None, None]]


def test_importance_sums_per_family(fitted):
    model, X = fitted
    ex = shap_values(model, X[:500])
    fam = family_importance(ex)
    assert set(fam.index) == {"engagement", "benefit", "relationship", "group_context"}
    assert fam.sum() == pytest.approx(ex.values.abs().mean().sum())
    table = feature_importance(ex)
    assert table["mean_abs_shap"].is_monotonic_decreasing
    assert table.set_index("feature").loc["group_size", "family"] == "group_context"


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 8), st.integers(0, 40), st.integers(1, 5), st.integers(0, 2**31 - 1))
def test_top_features_equal_a_stable_descending_sort(n_cols, n_rows, k, seed):
    rng = np.random.default_rng(seed)
    # few distinct values, so ties are common; zeros and negatives too
    v = rng.choice([-1.0, 0.0, 0.25, 0.5, 2.0], size=(n_rows, n_cols))
    ex = Explanation(pd.DataFrame(v, columns=[f"f{j}" for j in range(n_cols)]), 0.0)
    top = top_features(ex, k)
    order = np.argsort(-v, axis=1, kind="stable")[:, :k]
    for i in range(n_rows):
        want = [f"f{j}" if v[i, j] > 0 else None for j in order[i]]
        assert [n if isinstance(n, str) else None for n in top.iloc[i]] == want


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["days_since_speak", "reciprocity", "pagerank", "msg_share_30d", "x"]),
       st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64),
                          st.integers(-1000, 1000).map(lambda i: i / 20),
                          st.integers(-10**6, 10**6).map(float)), max_size=30))
def test_vectorised_display_equals_the_scalar_one(name, values):
    from shequn_ml.explain import _display, _display_many

    assert _display_many(name, np.array(values, dtype=float)).tolist() == \
        [_display(name, v) for v in values]


# ---------------------------------------------------------------------------- wording
#: Count nouns of the English templates, singular -> plural (read from no template: written here).
NOUNS = {"time": "times", "day": "days", "member": "members", "coupon": "coupons",
         "red packet": "red packets", "purchase": "purchases", "reply": "replies",
         "interaction": "interactions", "group": "groups",
         "invitee": "invitees", "red packet or coupon": "red packets or coupons",
         "sign-up or offline attendance": "sign-ups or offline attendances"}


def _templates() -> dict:
    """Every registered reason template: the default spec's features and the ranker's extra columns."""
    from shequn_ml.features.pipeline import feature_catalogue
    from shequn_ml.ranking import define_kol_features

    define_kol_features(28, 30)
    defs = feature_catalogue()
    from shequn_ml.features._registry import catalogue

    defs.update({k: v for k, v in catalogue().items() if k.startswith(("prev_", "hits_"))})
    return defs


def _counted(defs: dict) -> list[str]:
    """The features whose English sentence puts a number before a count noun."""
    plural = "|".join(sorted(map(re.escape, NOUNS.values()), key=len, reverse=True))
    return sorted(n for n, d in defs.items()
                  if re.search(r"\{value\} (?:different |activity )?\[", d.reason_en)
                  or re.search(rf"\{{value\}} (?:different |activity )?(?:{plural})\b", d.reason_en)
                  or "[day|days]" in d.reason_en)


def _agrees(sentence: str) -> list[str]:
    """The number/noun disagreements in an English sentence ("1 times", "2 coupon")."""
    bad = []
    for number, noun in re.findall(r"(-?\d+(?:\.\d+)?) (?:different |activity )?([a-z][a-z -]*)", sentence):
        for one, many in sorted(NOUNS.items(), key=lambda kv: -len(kv[1])):
            if noun.startswith(many) and (noun == many or not noun[len(many)].isalpha()):
                if abs(float(number)) == 1:
                    bad.append(f"{number} {many}")
                break
            if noun.startswith(one) and (noun == one or not noun[len(one)].isalpha()):
                if abs(float(number)) != 1:
                    bad.append(f"{number} {one}")
                break
    return bad


def test_no_template_counts_without_agreeing_in_number():
    defs = _templates()
    counted = _counted(defs)
    # the count and day templates of every family, and the ranker's
    assert {"speak_count_30d", "days_since_speak", "coupon_claims_30d", "renewals", "days_to_expiry",
            "partners_in", "groups_in", "group_speak_per_member_7d", "prev_responders"} <= set(counted)
    plural = "|".join(map(re.escape, NOUNS.values()))
    for name in defs:
        assert not re.search(rf"\{{value\}} (?:different )?(?:{plural})\b", defs[name].reason_en), \
            f"{name}: {defs[name].reason_en!r} puts a fixed plural after the value"


@pytest.mark.parametrize("value", [1.0, 2.0, 0.0, -1.5, -1.0, 1.04, 0.5, 12.0])
def test_every_count_and_day_template_agrees_with_its_value(value):
    defs = _templates()
    for name in _counted(defs):
        en, zh = render_reason(name, value, "en"), render_reason(name, value, "zh")
        assert not re.search(r"[\[\]|{}]", en + zh), f"{name}: {en!r} / {zh!r}"
        assert _agrees(en) == [], f"{name} at {value}: {en!r}"
        # a negative number of days ahead reads as the past ("expired 1.5 days ago"); counts and
        # days-since that cannot be negative show the value as it is, in agreement
        assert not re.search(r"\bin -\d+(?:\.\d+)? days?\b", en), f"{name} at {value}: {en!r}"


def test_count_and_day_wording_at_one_two_zero_and_below_zero():
    cases = {
        ("speak_count_30d", 1): ("spoke 1 time in 30 days", "30天内发言1次"),
        ("speak_count_30d", 2): ("spoke 2 times in 30 days", "30天内发言2次"),
        ("speak_count_30d", 0): ("spoke 0 times in 30 days", "30天内发言0次"),
        ("coupon_claims_30d", 1): ("claimed 1 coupon in 30 days", "30天内领券1张"),
        ("coupon_claims_30d", 2): ("claimed 2 coupons in 30 days", "30天内领券2张"),
        ("renewals", 1): ("renewed 1 time", "已续费1次"),
        ("days_since_speak", 1): ("no message for 1 day", "1天未发言"),
        ("days_since_speak", 1.04): ("no message for 1 day", "1天未发言"),  # shown as 1, not "1.0 days"
        ("days_since_speak", 0.5): ("no message for 0.5 days", "0.5天未发言"),
        ("days_to_expiry", 2): ("membership expires in 2 days", "会员2天后到期"),
        ("days_to_expiry", 1): ("membership expires in 1 day", "会员1天后到期"),
        ("days_to_expiry", 0): ("membership expires in 0 days", "会员0天后到期"),
        ("days_to_expiry", -1.5): ("membership expired 1.5 days ago", "会员已过期1.5天"),
        ("days_to_expiry", -1): ("membership expired 1 day ago", "会员已过期1天"),
        ("days_to_expiry", -0.01): ("membership expires in 0 days", "会员0天后到期"),  # never "-0"
        ("partners_in", 1): ("1 different member responded to them", "1位群友回应过TA"),
        ("invitees_active", 1): ("1 of the people they invited is still active", "邀请的人中1人仍活跃"),
        ("invitees_active", 3): ("3 of the people they invited are still active", "邀请的人中3人仍活跃"),
        ("groups_in", 1): ("is in 1 group", "同时在1个群"),
        ("group_speak_per_member_7d", 1): ("the group speaks 1 time per member in 7 days",
                                           "群内7天人均发言1次"),
        ("group_speak_per_member_7d", 0.1): ("the group speaks 0.1 times per member in 7 days",
                                             "群内7天人均发言0.1次"),
        ("group_benefit_events_14d", 1): ("1 red packet or coupon in the group in 14 days",
                                          "群内14天有1次红包或领券"),
        ("ever_spoke", 0): ("has never spoken in the group", "入群后从未发言"),
        ("ever_spoke", 1): ("has spoken in the group", "曾在群内发言"),
        ("is_paid", 0): ("free member (not paid)", "免费成员（未付费）"),
        ("is_paid", 1): ("paid member", "付费会员"),
    }
    _templates()
    for (name, value), (en, zh) in cases.items():
        assert (render_reason(name, value, "en"), render_reason(name, value, "zh")) == (en, zh), (name, value)
    assert render_reason("days_to_expiry", -1.5) == "membership expired 1.5 days ago / 会员已过期1.5天"
