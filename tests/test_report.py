"""The operator's report (shequn_ml/report, `shequn-ml report`), on the committed sample.

The scores come from the quickstart models (``logged_quickstart`` in conftest.py)
scoring the committed sample (30 groups) through ``shequn-ml score``, as in
tests/test_batch.py. The groups, contacts and roles tables of the "full" page are
made up here from the scores (their producers are other modules); they test that the
page shows what such tables hold, not what the models would say.

The browser test follows tests/test_browser.py: headless Debian Chromium through
ChromeDriver, skipped without ``/usr/bin/chromium`` except under CI (``CI`` set),
where it fails.
"""

from __future__ import annotations

import html.parser
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shequn_ml.cli import main
from shequn_ml.io import read_events, read_groups, read_members
from shequn_ml.report import ReportInputError, build_report, read_report_table, write_report
from shequn_ml.report._data import km_curve, memberships, role_counts
from shequn_ml.report._inputs import reasons

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
CUTOFF = "2024-06-20"
N_GROUPS = 30
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PAGE_TIMEOUT_S = 60
SIDE_TABLES = ("--events", str(SAMPLE / "events.parquet"), "--members", str(SAMPLE / "members.parquet"),
               "--groups", str(SAMPLE / "groups.parquet"))
SECTIONS = ("群健康", "活跃度与生命周期", "留存曲线", "联系名单", "头狼候选", "角色金字塔")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning",
                                        "ignore::UserWarning")


# ---------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def sample():
    return (read_events(SAMPLE / "events.parquet"), read_members(SAMPLE / "members.parquet"),
            read_groups(SAMPLE / "groups.parquet"))


@pytest.fixture(scope="module")
def scores_path(logged_quickstart, tmp_path_factory) -> Path:
    """The sample scored by the quickstart's champions at CUTOFF (not logged)."""
    uri = logged_quickstart[2]
    out = tmp_path_factory.mktemp("report-scores") / "scores.parquet"
    code = main(["score", *SIDE_TABLES, "--cutoff", CUTOFF, "--out", str(out), "--tracking-uri", uri,
                 "--quiet", "--no-log"])
    assert code == 0
    return out


@pytest.fixture(scope="module")
def scores(scores_path) -> pd.DataFrame:
    return pd.read_parquet(scores_path)


def _reason(scores: pd.DataFrame, task: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    """English and Chinese of a reason column, whether the scores split them or not."""
    if f"{task}_reason_{k}_zh" in scores.columns:
        return (scores[f"{task}_reason_{k}_en"].fillna("").to_numpy(dtype=object),
                scores[f"{task}_reason_{k}_zh"].fillna("").to_numpy(dtype=object))
    parts = scores[f"{task}_reason_{k}"].fillna("").str.rpartition(" / ")
    return parts[0].to_numpy(dtype=object), parts[2].to_numpy(dtype=object)


def made_up_tables(scores: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Groups, contacts and roles tables in the layouts their producers write, made up from the scores.

    The groups table leaves out g030, so that one group has no risk (sorted last either way).
    """
    s = scores.loc[scores["status"] == "scored"].copy()
    s["group_id"] = s["group_id"].astype(str)
    s["member_id"] = s["member_id"].astype(str)
    groups = sorted(set(scores["group_id"].astype(str)))
    rng = np.random.default_rng(19)
    risk = rng.uniform(0.02, 0.95, len(groups))
    gt = pd.DataFrame({"group_id": groups, "cutoff": pd.Timestamp(CUTOFF, tz="UTC"), "status": "scored",
                       "note": "", "group_risk": risk,
                       "lifecycle_stage": (risk * 3).astype(int).clip(0, 2).astype(float)})
    gt["lifecycle_stage_zh"] = gt["lifecycle_stage"].map({0: "恋爱期", 1: "质疑期", 2: "分手期"})
    gt["lifecycle_stage_en"] = gt["lifecycle_stage"].map({0: "honeymoon", 1: "doubt", 2: "breakup"})
    gt["activity_trend"] = rng.normal(0, 0.5, len(groups))
    gt["speakers_recent"] = rng.integers(0, 80, len(groups)).astype(float)
    gt["members_present"] = gt["speakers_recent"] + rng.integers(0, 100, len(groups))
    gt["group_reason_1_en"] = "the group spoke less this week"
    gt["group_reason_1_zh"] = "本周群内发言减少"
    gt = gt.loc[gt["group_id"] != "g030"].reset_index(drop=True)

    top = s.dropna(subset=["silence_risk"]).sort_values(["group_id", "silence_risk"], ascending=[True, False])
    top = top.groupby("group_id").head(4).copy()
    # the layout of the contact list shequn-ml score writes (scores.contacts.parquet)
    contacts = pd.DataFrame({"group_id": top["group_id"], "rank": top.groupby("group_id").cumcount() + 1,
                             "member_id": top["member_id"],
                             "tier": np.where(top["silence_risk"] > 0.6, "高", "中"),
                             "silence_risk": top["silence_risk"], "churn_risk": top["churn_risk"],
                             "action_en": "send a red packet", "action_zh": "发个红包",
                             "reason_task": "silence"})
    for k in (1, 2, 3):
        contacts[f"reason_{k}_en"], contacts[f"reason_{k}_zh"] = _reason(top, "silence", k)

    rank = pd.to_numeric(s["kol_rank_in_group"], errors="coerce").fillna(999).to_numpy()
    role = np.select([rank == 1, rank <= 3, rank <= 8, rank <= 25],
                     ["thinker", "organiser", "asker", "chatter"], "lurker")
    roles = pd.DataFrame({"group_id": s["group_id"], "member_id": s["member_id"], "role": role,
                          "is_head_wolf": rank == 1})
    return {"groups_table": gt, "contacts": contacts.reset_index(drop=True), "roles": roles}


@pytest.fixture(scope="module")
def plain_page(sample, scores) -> str:
    """The page from the scores alone: no groups, contacts or roles table."""
    return build_report(*sample, scores)


@pytest.fixture(scope="module")
def full_tables(scores) -> dict[str, pd.DataFrame]:
    return made_up_tables(scores)


@pytest.fixture(scope="module")
def full_page(sample, scores, full_tables) -> str:
    return build_report(*sample, scores, **full_tables, title="测试社群 report")


class _Tags(html.parser.HTMLParser):
    """Every start tag with its attributes, and the rows of each table by id."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.rows: dict[str, int] = {}
        self._table: list[str | None] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "table":
            self._table.append(a.get("id"))
        elif tag == "tr" and self._table and self._table[-1]:
            self.rows[self._table[-1]] = self.rows.get(self._table[-1], 0) + 1

    def handle_endtag(self, tag):
        if tag == "table" and self._table:
            self._table.pop()


def _parse(page: str) -> _Tags:
    p = _Tags()
    p.feed(page)
    return p


# ---------------------------------------------------------------------------- the page's content
def test_the_page_is_self_contained(plain_page, full_page):
    for page in (plain_page, full_page):
        tags = _parse(page).tags
        names = {t for t, _ in tags}
        assert "link" not in names and "iframe" not in names and "object" not in names
        for tag, attrs in tags:
            for key in ("src", "href", "action", "data", "srcset"):
                value = attrs.get(key)
                if value is None:
                    continue
                assert not re.match(r"\s*(https?:)?//", value), (tag, key, value[:80])
                if key == "src":
                    assert value.startswith("data:image/png;base64,"), (tag, value[:80])
                if key == "href":
                    assert value.startswith("#"), value
        assert not any(t == "script" and a.get("src") for t, a in tags)
        assert not re.search(r"url\(\s*['\"]?(https?:)?//", page) and "@import" not in page
        images = [a for t, a in tags if t == "img"]
        assert len(images) >= 4


def test_the_page_without_side_tables_says_what_is_absent(plain_page, scores):
    parsed = _parse(plain_page)
    for zh in SECTIONS:
        assert re.search(rf"<section id=\"\w+\"><h2>{zh} <small", plain_page), zh
    assert parsed.rows["group-health"] == N_GROUPS + 1  # + the header row
    assert "Group risk is absent" in plain_page and "群风险<br>" not in plain_page
    assert "Roles are absent" in plain_page
    assert "No contact-list table was given" in plain_page
    assert all(stage in plain_page for stage in ("恋爱期", "质疑期", "分手期"))
    # the contact lists come from the scores: members with a silence risk, 10 per group at most
    with_risk = scores.loc[scores["silence_risk"].notna(), "group_id"].astype(str)
    assert plain_page.count('<details class="contacts"') == with_risk.nunique()
    top = scores.loc[scores["silence_risk"].notna()].sort_values("silence_risk").iloc[-1]
    assert re.search(rf"<td data-sort=\"{top['member_id']}\">{top['member_id']}</td>", plain_page)


def test_the_full_page_shows_the_side_tables(full_page, full_tables):
    parsed = _parse(full_page)
    assert "<title>测试社群 report</title>" in full_page
    assert parsed.rows["group-health"] == N_GROUPS + 1  # g030, missing from the groups table, is listed
    assert "Group risk is absent" not in full_page and "群风险<br>" in full_page
    assert "Roles are absent" not in full_page and parsed.rows["roles-table"] == N_GROUPS + 1
    assert "发个红包" in full_page and "本周群内发言减少" in full_page
    # the group health table is ordered riskiest first, by the groups table's risk
    body = full_page.split('id="group-health"', 1)[1].split("</table>", 1)[0]
    shown = re.findall(r"<tr><td data-sort=\"(g\d+)\"", body)
    gt = full_tables["groups_table"].sort_values("group_risk", ascending=False)
    assert shown == [*gt["group_id"], "g030"]
    # the pyramid counts are the roles table's
    counts = role_counts(full_tables["roles"])
    table = full_page.split('id="roles-table"', 1)[1].split("</table>", 1)[0]
    g = counts.index[0]
    row = re.search(rf"<tr><td data-sort=\"{g}\">{g}</td>(.*?)</tr>", table).group(1)
    assert re.findall(r'data-sort="([\d.]+)"', row)[:5] == [repr(float(v)) for v in counts.loc[g]]


def test_reasons_are_read_in_both_layouts():
    joined = pd.DataFrame({"kol_reason_1": ["answers questions / 回答问题", None],
                           "kol_reason_2": ["", "invites members who stay / 邀请的人留下来了"]})
    split = pd.DataFrame({"kol_reason_1_en": ["answers questions", np.nan],
                          "kol_reason_1_zh": ["回答问题", None],
                          "kol_reason_2_en": ["", "invites members who stay"],
                          "kol_reason_2_zh": ["", "邀请的人留下来了"]})
    for t in (joined, split):
        assert reasons(t, "kol", "zh") == [["回答问题"], ["邀请的人留下来了"]]
        assert reasons(t, "kol", "en") == [["answers questions"], ["invites members who stay"]]
    assert reasons(pd.DataFrame({"x": [1]}), "kol", "zh") == [[]]


def test_the_report_reads_both_reason_layouts(sample, scores):
    """The same page whether the scores carry "English / 中文" cells or separate _en / _zh columns."""
    split, joined = scores.copy(), scores.copy()
    for task in ("silence", "churn", "kol"):
        for k in (1, 2, 3):
            en, zh = _reason(scores, task, k)
            for t in (split, joined):
                t.drop(columns=[c for c in (f"{task}_reason_{k}", f"{task}_reason_{k}_en",
                                            f"{task}_reason_{k}_zh") if c in t.columns], inplace=True)
            split[f"{task}_reason_{k}_en"], split[f"{task}_reason_{k}_zh"] = en, zh
            joined[f"{task}_reason_{k}"] = [f"{a} / {b}" if a else "" for a, b in zip(en, zh, strict=True)]
    a = build_report(*sample, split, max_group_charts=0)
    b = build_report(*sample, joined, max_group_charts=0)
    assert a == b
    top = scores["kol_rank_in_group"] == 1
    first = _reason(scores.loc[top], "kol", 1)[1]
    assert first[0] and all(z in a for z in first if z)


# ---------------------------------------------------------------------------- errors
def test_bad_inputs_name_the_table_and_the_column(sample, scores, tmp_path):
    with pytest.raises(ReportInputError, match=r"the scores table: column 'member_id' is missing"):
        build_report(*sample, scores.drop(columns="member_id"))
    with pytest.raises(ReportInputError, match=r"cutoff 2024-06-01 00:00 UTC differs from the scores "
                                               r"table's cutoff 2024-06-20 00:00 UTC"):
        build_report(*sample, scores, cutoff="2024-06-01")
    stale = pd.DataFrame({"group_id": ["g001"], "cutoff": pd.Timestamp("2024-06-13", tz="UTC")})
    with pytest.raises(ReportInputError, match=r"the groups table: column 'cutoff' is 2024-06-13 00:00 UTC, "
                                               r"not the report's cutoff 2024-06-20"):
        build_report(*sample, scores, groups_table=stale)
    with pytest.raises(ReportInputError, match=r"column 'role' has values that are not roles: \['boss'\]"):
        build_report(*sample, scores, roles=pd.DataFrame({"group_id": ["g001"], "member_id": ["m1"],
                                                          "role": ["boss"]}))
    with pytest.raises(ValueError, match=r"weeks must be an integer of at least 1, got 0"):
        build_report(*sample, scores, weeks=0)
    path = tmp_path / "scores.csv"
    path.write_text("group_id,silence_risk\ng001,0.4\n")
    with pytest.raises(ReportInputError, match=r"scores.csv: column 'member_id' is missing .* it has "
                                               r"group_id, silence_risk"):
        read_report_table(path, "scores")
    with pytest.raises(ReportInputError, match=r"nothing.parquet: no such file"):
        read_report_table(tmp_path / "nothing.parquet", "scores")


# ---------------------------------------------------------------------------- the numbers
def test_kaplan_meier_matches_the_product_limit_by_hand():
    # 6 memberships: exits at days 2, 3 (two), 5; censored at 3 and 8
    d = np.array([2, 3, 3, 3, 5, 8], dtype=float)
    e = np.array([True, True, True, False, True, False])
    c = km_curve(d, e, "x")
    t = c.table
    assert t.index.tolist() == [0.0, 2.0, 3.0, 5.0, 8.0] and t["at_risk"].tolist() == [6, 6, 5, 2, 1]
    s2 = 5 / 6
    s3 = s2 * (1 - 2 / 5)
    s5 = s3 * (1 - 1 / 2)
    assert t["survival"].tolist() == pytest.approx([1.0, s2, s3, s5, s5])
    assert c.n == 6 and c.exits == 4
    assert c.median_days == 3.0  # S(3) is one half exactly: the first day at most one half
    assert np.isnan(c.at[30]) and np.isnan(c.at[90])  # nobody was followed that long: no extrapolation
    # the 95% band at day 3: exponential Greenwood, V = 1/(6*5) + 2/(5*3)
    v, z = np.log(s3), 1.959963984540054
    se = np.sqrt(1 / 30 + 2 / 15)
    assert t.loc[3.0, "lower"] == pytest.approx(np.exp(-np.exp(np.log(-v) - z * se / v)))
    assert t.loc[3.0, "upper"] == pytest.approx(np.exp(-np.exp(np.log(-v) + z * se / v)))
    assert t.loc[0.0, "lower"] == t.loc[0.0, "upper"] == 1.0
    assert 0 < t.loc[3.0, "lower"] < s3 < t.loc[3.0, "upper"] < 1


def test_memberships_start_at_the_join_and_end_at_the_first_exit():
    ev = read_events(pd.DataFrame({
        "ts": ["2024-01-01", "2024-01-11", "2024-01-20", "2024-01-05", "2024-01-09", "2024-01-03",
               "2024-01-09", "2024-02-01"],
        "group_id": "g",
        "member_id": ["a", "a", "a", "b", "c", "d", "d", "late"],
        "event_type": ["join", "leave", "join", "message", "leave", "message", "removed", "join"]}))
    mem = read_members(pd.DataFrame({"member_id": ["b"], "group_id": ["g"], "joined_at": ["2024-01-02"]}))
    cutoff = pd.Timestamp("2024-01-31", tz="UTC")
    ms = memberships(ev.loc[ev["ts"] < cutoff], mem, cutoff)
    t = ms.table.set_index("member_id")
    assert t.loc["a", "duration_days"] == 10 and t.loc["a", "observed"]  # the re-join is not a new spell
    assert t.loc["b", "duration_days"] == 29 and not t.loc["b", "observed"]  # joined_at, censored at t
    assert "c" not in t.index and ms.dropped == 1  # first event an exit, no join: start unknown
    assert t.loc["d", "duration_days"] == 6 and t.loc["d", "observed"]  # no join: from the first event
    assert "late" not in t.index  # joined after the cutoff
    assert t.loc["a", "cohort"] == "2024-01"


# ---------------------------------------------------------------------------- the CLI
def test_the_cli_writes_the_page(scores_path, tmp_path, capsys):
    out = tmp_path / "report.html"
    # the contact list shequn-ml score writes beside the scores, once it does
    contacts = scores_path.with_name(f"{scores_path.stem}.contacts.parquet")
    extra = ["--contacts", str(contacts)] if contacts.exists() else []
    code = main(["report", *SIDE_TABLES, "--scores", str(scores_path), "--out", str(out),
                 "--title", "样例社群", *extra])
    assert code == 0
    assert f"report -> {out}" in capsys.readouterr().out
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<title>样例社群</title>" in page
    assert _parse(page).rows["group-health"] == N_GROUPS + 1
    if extra:
        listed = pd.read_parquet(contacts)
        assert "No contact-list table was given" not in page
        assert page.count('<details class="contacts"') == listed["group_id"].nunique()
        assert str(listed["action_zh"].iloc[0]) in page


@pytest.mark.parametrize("case", ["missing", "no_member_id", "cutoff"])
def test_the_cli_refuses_bad_input_in_one_line(scores_path, tmp_path, capsys, case):
    scores = tmp_path / "scores.parquet"
    cutoff: list[str] = []
    if case == "missing":
        expected = rf"--scores {re.escape(str(scores))}: no such file"
    elif case == "no_member_id":
        pd.read_parquet(scores_path).drop(columns="member_id").to_parquet(scores)
        expected = rf"--scores {re.escape(str(scores))}: column 'member_id' is missing"
    else:
        scores = scores_path
        cutoff = ["--cutoff", "2024-05-01"]
        expected = r"the cutoff 2024-05-01 00:00 UTC differs from the scores table's cutoff"
    out = tmp_path / "report.html"
    code = main(["report", "--events", str(SAMPLE / "events.parquet"), "--scores", str(scores),
                 "--out", str(out), *cutoff])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert re.match(rf"shequn-ml report: {expected}", err), err
    assert not out.exists()


# ---------------------------------------------------------------------------- in a real browser
def _require_browser() -> None:
    """Skip without Chromium on a developer's machine; fail under CI, which must install it."""
    if not CHROMIUM.exists():
        reason = (f"{CHROMIUM} is not installed (apt-get install chromium chromium-driver); "
                  "the browser test of the report needs it")
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {reason}: .ci/run should have installed it")
        pytest.skip(reason)
    if not CHROMEDRIVER.exists():
        pytest.fail(f"{CHROMIUM} is installed but {CHROMEDRIVER} is not: apt-get install chromium-driver")


@pytest.fixture(scope="module")
def browser_installed():
    """Checked before the (slow) quickstart fixture: module-scoped, listed first."""
    _require_browser()


@pytest.fixture
def browser(tmp_path):
    """Headless Debian Chromium through ChromeDriver (the flags of tests/test_browser.py)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,1000", "--force-device-scale-factor=1",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(PAGE_TIMEOUT_S)
    try:
        yield driver
    finally:
        driver.quit()


def _column(driver, table_id: str, header_en: str) -> tuple[int, list[str]]:
    """Index of the column whose header holds ``header_en``, and its cells' data-sort values in row order."""
    return driver.execute_script("""
        const t = document.getElementById(arguments[0]);
        const heads = Array.from(t.tHead.rows[0].cells);
        const i = heads.findIndex(h => h.textContent.includes(arguments[1]));
        return [i, Array.from(t.tBodies[0].rows).map(r => r.cells[i].getAttribute('data-sort'))];
    """, table_id, header_en)


def _click_header(driver, table_id: str, index: int) -> None:
    from selenium.webdriver.common.by import By

    th = driver.find_element(By.CSS_SELECTOR, f"#{table_id} thead th:nth-child({index + 1})")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", th)
    th.click()


def _numbers(values: list[str]) -> list[float]:
    return [float(v) if v else np.nan for v in values]


def test_the_page_renders_and_sorts_in_a_browser(browser_installed, full_page, full_tables, tmp_path,
                                                 browser):
    import matplotlib.image as mpimg
    from selenium.webdriver.common.by import By

    path = write_report(full_page, tmp_path / "report.html")
    browser.get(path.as_uri())
    assert browser.title == "测试社群 report"
    h2 = [e.text for e in browser.find_elements(By.TAG_NAME, "h2")]
    assert [t.split()[0] for t in h2] == list(SECTIONS)
    rows = browser.find_elements(By.CSS_SELECTOR, "#group-health tbody tr")
    assert len(rows) == N_GROUPS
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight]);")
    assert len(images) >= 5
    for alt, complete, w, h in images:
        assert complete and w > 300 and h > 150, (alt, w, h)
    assert browser.execute_script("return document.querySelectorAll('script[src], link').length;") == 0

    # the screenshot: the title and the group table where the DOM puts them, in their colours
    shot = tmp_path / "report.png"
    browser.execute_script("window.scrollTo(0, 0);")
    assert browser.save_screenshot(str(shot))
    img = mpimg.imread(shot)[..., :3]
    vw, vh, dpr = browser.execute_script(
        "return [window.innerWidth, window.innerHeight, window.devicePixelRatio];")
    assert dpr == 1 and img.shape[1] >= vw - 20 and img.shape[0] >= vh - 20, (img.shape, vw, vh)
    colours = np.unique((img.reshape(-1, 3) * 255).astype(np.uint8), axis=0)
    assert float(img.std()) > 0.05 and len(colours) > 100, len(colours)
    for selector in ("header h1", "#group-health thead th", "nav a"):
        r = browser.execute_script("const r = document.querySelector(arguments[0]).getBoundingClientRect();"
                                   "return [r.left, r.top, r.right, r.bottom];", selector)
        assert 0 <= r[0] < r[2] <= vw and 0 <= r[1] < r[3] <= vh, (selector, r)
    # the header band is the page's dark blue (#24476f) and the title's text is white on it
    left, top, right, bottom = (int(v) for v in browser.execute_script(
        "const r = document.querySelector('header h1').getBoundingClientRect();"
        "return [r.left, r.top, r.right, r.bottom];"))
    band = img[top:bottom, max(left - 10, 0):right]
    blue = np.array([0x24, 0x47, 0x6F]) / 255
    assert (np.abs(band - blue).max(axis=-1) < 0.03).mean() > 0.5
    assert (band.min(axis=-1) > 0.9).mean() > 0.02  # white glyphs of the title
    th = browser.execute_script(
        "const r = document.querySelector('#group-health thead th').getBoundingClientRect();"
        "return [r.left + 3, r.top + 3];")
    assert np.abs(img[int(th[1]), int(th[0])] - blue).max() < 0.03

    # sorting: members present, ascending then descending (numbers, not text)
    i, before = _column(browser, "group-health", "members present")
    _click_header(browser, "group-health", i)
    _, up = _column(browser, "group-health", "members present")
    assert sorted(_numbers(up)) == _numbers(up) and sorted(up) == sorted(before) and up != before
    _click_header(browser, "group-health", i)
    _, down = _column(browser, "group-health", "members present")
    assert _numbers(down) == sorted(_numbers(down), reverse=True)
    # the group column as text; then group risk, where g030 (no risk) stays last both ways
    i, _ = _column(browser, "group-health", "group")
    _click_header(browser, "group-health", i)
    _, ids = _column(browser, "group-health", "group")
    assert ids == sorted(ids) and len(ids) == N_GROUPS
    i, _ = _column(browser, "group-health", "group risk")
    for _direction in ("ascending", "descending"):
        _click_header(browser, "group-health", i)
        _, risk = _column(browser, "group-health", "group risk")
        assert risk[-1] == "" and all(risk[:-1])
        numbers = _numbers(risk[:-1])
        assert numbers == sorted(numbers, reverse=_direction == "descending")
    th = browser.find_element(By.CSS_SELECTOR, f"#group-health thead th:nth-child({i + 1})")
    assert th.get_attribute("aria-sort") == "descending"
    # the per-group lists: the three riskiest open, the others collapsed, every group there
    details = browser.find_elements(By.CSS_SELECTOR, "details.contacts")
    assert len(details) == full_tables["contacts"]["group_id"].nunique()
    assert [d.get_attribute("open") is not None for d in details[:4]] == [True, True, True, False]
