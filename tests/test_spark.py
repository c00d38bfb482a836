"""The Spark engine (shequn_ml/spark.py) against the pandas engine, on a real local[2] session.

Skipped only when pyspark or Java is missing *and* the CI variable is unset: in CI
(`.ci/run` installs both) a missing engine is a failure, not a skip.
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
CUTOFF = "2024-06-20"

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning",
                                        "ignore::UserWarning", "ignore::ResourceWarning")


def _spark_missing() -> str | None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install -e '.[spark]')"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "no Java runtime on PATH"
    return None


@pytest.fixture(scope="module")
def spark():
    reason = _spark_missing()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"the Spark engine must run in CI: {reason}")
        pytest.skip(reason)
    from shequn_ml.spark import spark_session

    session = spark_session("local[2]", "shequn-ml-tests")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def both_engines(spark, logged_quickstart, tmp_path_factory):
    from shequn_ml.io import read_events, read_groups, read_members
    from shequn_ml.scoring import score_members, write_scores
    from shequn_ml.spark import score_members_spark
    from shequn_ml.tracking import load_bundle

    uri = logged_quickstart[2]
    bundles = {t: load_bundle(logged_quickstart[1][t].model_name, tracking_uri=uri)
               for t in ("silence", "churn", "kol")}
    tmp = tmp_path_factory.mktemp("engines")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ev = read_events(SAMPLE / "events.parquet")
        mt = read_members(SAMPLE / "members.parquet")
        gt = read_groups(SAMPLE / "groups.parquet")
    local = score_members(ev, CUTOFF, bundles, members=mt, groups=gt)
    write_scores(local.table, tmp / "pandas.parquet")
    # one Python call per group: groupBy("group_id").applyInPandas, as the issue states it
    on_spark = score_members_spark(SAMPLE / "events.parquet", CUTOFF, bundles,
                                   members=SAMPLE / "members.parquet", groups=SAMPLE / "groups.parquet",
                                   out=tmp / "spark.parquet", spark=spark, groups_per_call=1)
    return local, on_spark, tmp


def _assert_same_table(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    assert len(a) == len(b)
    pd.testing.assert_frame_equal(a[["group_id", "member_id", "status"]].astype(str),
                                  b[["group_id", "member_id", "status"]].astype(str))
    for col in ("silence_risk", "churn_risk", "kol_score"):
        x, y = a[col].to_numpy(dtype=float), b[col].to_numpy(dtype=float)
        assert (np.isnan(x) == np.isnan(y)).all(), col
        assert np.nanmax(np.abs(x - y)) < 1e-9, col
    ranks = [t["kol_rank_in_group"].fillna(-1).to_numpy(dtype=int) for t in (a, b)]
    assert (ranks[0] == ranks[1]).all()
    text = [c for c in a.columns if "reason" in c or c == "note" or c.endswith(("_version", "_tier"))]
    assert {"silence_tier", "churn_tier", "churn_reason_1_en", "kol_reason_3_feature"} <= set(text)
    pd.testing.assert_frame_equal(a[text].astype(str), b[text].astype(str))


def _assert_same_extras(a, b) -> None:
    """The contact lists and the group signals of two engines' results (numbers to 1e-9, as the scores)."""
    assert list(a.contacts.columns) == list(b.contacts.columns) and len(a.contacts) == len(b.contacts)
    numbers = ["silence_risk", "churn_risk", "influence", "value", "priority"]
    for col in numbers:
        x, y = a.contacts[col].to_numpy(dtype=float), b.contacts[col].to_numpy(dtype=float)
        assert (np.isnan(x) == np.isnan(y)).all() and np.nanmax(np.abs(x - y)) < 1e-9, col
    rest = [c for c in a.contacts.columns if c not in numbers]
    pd.testing.assert_frame_equal(a.contacts[rest].astype(str), b.contacts[rest].astype(str))
    pd.testing.assert_frame_equal(a.group_signals.astype(str), b.group_signals.astype(str))


def test_spark_gives_the_pandas_scores_and_reasons(both_engines):
    local, on_spark, _ = both_engines
    _assert_same_table(local.table, on_spark.table)
    _assert_same_extras(local, on_spark)
    assert local.counts == on_spark.counts
    assert (local.table["status"] == "scored").sum() > 1000
    assert len(local.contacts) > 100
    scored_groups = set(local.table.loc[local.table["status"] == "scored", "group_id"])
    assert set(local.group_signals["group_id"]) == scored_groups


def test_spark_with_groups_bucketed_per_call_gives_the_same_table(spark, both_engines, logged_quickstart,
                                                                   tmp_path):
    """Many whole groups per Python call (hashed buckets) change nothing but the speed."""
    from shequn_ml.spark import score_members_spark
    from shequn_ml.tracking import load_bundle

    local, _, _ = both_engines
    uri = logged_quickstart[2]
    bundles = {t: load_bundle(logged_quickstart[1][t].model_name, tracking_uri=uri)
               for t in ("silence", "churn", "kol")}
    calls = []
    bucketed = score_members_spark(SAMPLE / "events.parquet", CUTOFF, bundles,
                                   members=SAMPLE / "members.parquet", groups=SAMPLE / "groups.parquet",
                                   spark=spark, groups_per_call=7, progress=calls.append)
    _assert_same_table(local.table, bucketed.table)
    _assert_same_extras(local, bucketed)
    assert bucketed.counts == local.counts
    # the 30 groups went to several calls, each group to exactly one
    from shequn_ml.spark import CALL, _calls, _n_calls

    raw = spark.read.parquet(str(SAMPLE / "events.parquet"))
    assert _n_calls([raw], 7) == 5 and _n_calls([raw], 1) == 0
    (ev,), by = _calls([raw], _n_calls([raw], 7))
    assert by == [CALL]
    buckets = ev.select("group_id", CALL).distinct().toPandas()
    assert buckets["group_id"].is_unique and 1 < buckets[CALL].nunique() <= 5
    with pytest.raises(ValueError, match="groups_per_call"):
        score_members_spark(SAMPLE / "events.parquet", CUTOFF, bundles, spark=spark, groups_per_call=0)


def test_spark_writes_one_parquet_file_in_place(both_engines):
    _, on_spark, tmp = both_engines
    out = tmp / "spark.parquet"
    assert out.is_file()
    assert pd.read_parquet(out).shape[0] == len(on_spark.table)
    assert not [p for p in tmp.iterdir() if p.name.startswith(".spark.parquet")]  # no temp folder left


def test_the_batch_job_on_spark_writes_through_spark(spark, logged_quickstart, tmp_path, monkeypatch):
    """`shequn-ml score --engine spark` must not collect the table and write it with pandas:
    a million members' rows do not fit the driver JVM's heap (it ran out at 1M members)."""
    import shequn_ml.batch as batch

    def refuse(*args, **kwargs):
        raise AssertionError("the Spark engine's table was written by pandas")

    monkeypatch.setattr(batch, "write_scores", refuse)
    out = tmp_path / "scores.parquet"
    done = batch.run_batch_scoring(str(SAMPLE / "events.parquet"), CUTOFF, str(out),
                                   members=str(SAMPLE / "members.parquet"),
                                   groups=str(SAMPLE / "groups.parquet"), engine="spark",
                                   csv=True, tracking_uri=logged_quickstart[2], log_run=False)
    assert done.written == [out, out.with_suffix(".csv"), out.with_suffix(".contacts.parquet"),
                            out.with_suffix(".contacts.csv"), out.with_suffix(".manifest.json")]
    assert len(pd.read_parquet(out.with_suffix(".contacts.parquet"))) == len(done.result.contacts) > 0
    from shequn_ml.outputs import check_output_set

    assert check_output_set(done.written[-1])["counts"]["rows_out"] == done.result.counts["rows_out"]
    table = pd.read_parquet(out)
    assert len(table) == done.result.counts["rows_out"] == done.result.counts["rows_in"]
    assert len(pd.read_csv(out.with_suffix(".csv"))) == len(table)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".scores.")]  # no temp folder left


def test_spark_gives_the_pandas_tiers_against_a_previous_night_and_one_language(spark, both_engines,
                                                                               logged_quickstart, tmp_path):
    from shequn_ml.io import read_events, read_groups, read_members
    from shequn_ml.scoring import output_columns, score_members
    from shequn_ml.spark import score_members_spark
    from shequn_ml.tracking import load_bundle

    local, _, _ = both_engines
    uri = logged_quickstart[2]
    bundles = {t: load_bundle(logged_quickstart[1][t].model_name, tracking_uri=uri)
               for t in ("silence", "churn", "kol")}
    prev = local.table
    tonight = "2024-06-21"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ev = read_events(SAMPLE / "events.parquet")
        mt = read_members(SAMPLE / "members.parquet")
        gt = read_groups(SAMPLE / "groups.parquet")
    a = score_members(ev, tonight, bundles, members=mt, groups=gt, previous=prev, lang="en")
    b = score_members_spark(SAMPLE / "events.parquet", tonight, bundles, members=SAMPLE / "members.parquet",
                            groups=SAMPLE / "groups.parquet", spark=spark, groups_per_call=16, previous=prev,
                            lang="en", out=tmp_path / "s.parquet", xlsx=True)
    assert list(b.table.columns) == output_columns("en")
    _assert_same_table(a.table, b.table)
    _assert_same_extras(a, b)
    assert a.tier_changes == b.tier_changes and 0 <= a.tier_changes["silence_tier"] < 0.2
    assert (tmp_path / "s.xlsx").is_file() and (tmp_path / "s.contacts.parquet").is_file()
