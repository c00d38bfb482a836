"""Self-replies and self-mentions are no relationship and no influence (issue 15)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import shequn_ml.io as sio
from shequn_ml.features import build_features
from shequn_ml.ranking import kol_features

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
CUTOFF = "2024-03-01"


@pytest.fixture(scope="module")
def with_self_replies():
    events = pd.read_parquet(SAMPLE / "events.parquet")
    events = events[events["ts"] < pd.Timestamp(CUTOFF, tz="UTC")]
    speaker = events.loc[events["event_type"] == "message"].iloc[-200]
    extra = pd.DataFrame({
        "ts": pd.date_range(speaker["ts"], periods=14, freq="s") + pd.Timedelta(milliseconds=1),
        "group_id": speaker["group_id"], "member_id": speaker["member_id"],
        "event_type": ["reply"] * 7 + ["mention"] * 7, "event_id": [f"self-{i}" for i in range(14)],
        "target_member_id": speaker["member_id"], "ref_event_id": None, "amount": float("nan"),
        "text_len": 5.0})
    extra = extra[extra["ts"] < pd.Timestamp(CUTOFF, tz="UTC")]
    assert len(extra) == 14
    return events, extra


@pytest.mark.filterwarnings("ignore::shequn_ml.validation.DataWarning")
def test_self_targets_add_no_relationship_or_influence_signal(with_self_replies):
    events, extra = with_self_replies
    untargeted = extra.assign(target_member_id=None)
    from shequn_ml.validation import DataWarning

    with pytest.warns(DataWarning, match=r"column 'target_member_id': 14 events are aimed at their own "
                                         r"sender .*never as a relationship or influence"):
        with_self = sio.read_events(pd.concat([events, extra], ignore_index=True))
    without = sio.read_events(pd.concat([events, untargeted], ignore_index=True))
    a = build_features(with_self, [CUTOFF])
    pd.testing.assert_frame_equal(a, build_features(without, [CUTOFF]))
    # the KOL signals (reply graph, PageRank, HITS, last period's influence) too
    pd.testing.assert_frame_equal(kol_features(with_self, [CUTOFF], 28), kol_features(without, [CUTOFF], 28))
    # and they are not nothing: the member's speaking counts include them
    c = build_features(sio.read_events(events), [CUTOFF])
    key = ["group_id", "member_id"]
    who = extra.iloc[0][key].astype(str).tolist()
    row = a.set_index(key).loc[tuple(who)]
    assert row["speak_count_7d"] > c.set_index(key).loc[tuple(who)]["speak_count_7d"]
