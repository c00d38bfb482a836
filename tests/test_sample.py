"""data/sample is exactly what its documented command makes, and it is usable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shequn_ml.cli import main

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def test_the_documented_command_remakes_the_sample_byte_for_byte(tmp_path):
    readme = (SAMPLE / "README.md").read_text(encoding="utf-8")
    command = re.search(r"shequn-ml simulate (--members \d+ --groups \d+ --days \d+ --seed \d+)", readme)
    assert command, "data/sample/README.md must show the command that made the sample"
    args = command.group(1).split() + ["--out", str(tmp_path), "--quiet"]
    assert main(["simulate", *args]) == 0
    committed = sorted(p.name for p in SAMPLE.iterdir() if p.suffix in (".parquet", ".json"))
    assert committed, "the sample has no data files"
    for name in committed:
        if (tmp_path / name).read_bytes() == (SAMPLE / name).read_bytes():
            continue
        # Byte equality holds on the machine that made the sample. Elsewhere, libm's exp and
        # log may differ in the last bit between CPUs (glibc picks an FMA or non-FMA path), so
        # simulated floats drawn through them may too: every other column must still be
        # identical, and floats equal to 1e-12 relative.
        assert name.endswith(".parquet"), f"{name} differs"
        import pandas as pd

        made, kept = pd.read_parquet(tmp_path / name), pd.read_parquet(SAMPLE / name)
        assert list(made.columns) == list(kept.columns) and len(made) == len(kept), name
        for col in made.columns:
            if made[col].dtype.kind == "f":
                pd.testing.assert_series_equal(made[col], kept[col], check_exact=False, rtol=1e-12,
                                               atol=0, obj=f"{name}:{col}")
            else:
                pd.testing.assert_series_equal(made[col], kept[col], check_exact=True, obj=f"{name}:{col}")


def test_the_sample_validates(capsys):
    code = main(["validate", str(SAMPLE / "events.parquet"), "--members",
                 str(SAMPLE / "members.parquet"), "--groups", str(SAMPLE / "groups.parquet")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "members:      3,000" in out and "groups:       30" in out
    assert "problems found: 0" in out


@pytest.mark.parametrize("name", ["events.parquet", "members.parquet", "groups.parquet"])
def test_the_sample_is_small_enough_for_git(name):
    assert (SAMPLE / name).stat().st_size < 4 * 2**20
