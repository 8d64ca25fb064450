"""The timm and collate_fn examples train a few steps."""

from __future__ import annotations

import math
import runpy
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("script, argv", [
    ("timm_train.py", ["--steps", "3", "--mode", "elem"]),
    ("timm_train.py", ["--steps", "3"]),
    ("collate_train.py", ["--steps", "3", "--workers", "2", "--batch-size", "8"]),
])
def test_example_trains(script, argv, capsys):
    main = runpy.run_path(str(EXAMPLES / script), run_name="example")["main"]
    loss = main(argv)
    assert math.isfinite(loss)
    assert "step   2" in capsys.readouterr().out
