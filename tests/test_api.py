"""The curated namespace ``import shequn_ml as sq``, and a quick command line."""

from __future__ import annotations

import subprocess
import sys

import pytest

import shequn_ml as sq


def test_every_public_name_resolves_to_the_object_of_its_module():
    import importlib

    for name, module in sq._PUBLIC.items():
        assert getattr(sq, name) is getattr(importlib.import_module(module), name), name
    assert set(sq.__all__) == {"__version__", *sq._PUBLIC}
    with pytest.raises(AttributeError, match="has no attribute 'predict_everything'"):
        sq.predict_everything  # noqa: B018


def test_import_and_help_load_no_heavy_library():
    code = ("import sys, shequn_ml, shequn_ml.cli; "
            "print(sorted(m for m in ('pandas', 'lightgbm', 'mlflow', 'pyspark') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    done = subprocess.run([sys.executable, "-m", "shequn_ml.cli", "--version"], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0 and done.stdout.strip() == f"shequn-ml {sq.__version__}"
