"""The seed table of the studies: paired differences and verdicts in the metric's direction."""

from mixkit.bench.studies.seed_table import seed_table


def _rows(method, values):
    return [{"method": method, "seed": s, "m": v} for s, v in enumerate(values)]


def test_lower_is_better_flips_the_verdict():
    rows = _rows("base", [1.0, 1.1, 0.9]) + _rows("good", [0.5, 0.6, 0.4]) + _rows("same", [1.0, 1.2, 0.8])
    text = seed_table(rows, "m", "base", higher_is_better=False)
    lines = {line.split(" | ")[0].strip("| "): line for line in text.splitlines()[2:]}
    assert "baseline" in lines["base"]
    assert lines["good"].rstrip(" |").endswith("better") and "-0.5000" in lines["good"]
    assert "within noise" in lines["same"]


def test_per_method_baselines():
    rows = _rows("a", [1, 2, 3]) + _rows("b", [2, 3, 4]) + _rows("c", [5, 5.1, 5.2]) + _rows("d", [5, 5, 5])
    text = seed_table(rows, "m", "a", pairs={"d": "c"})
    d_line = [line for line in text.splitlines() if line.startswith("| d ")][0]
    assert "vs c" in d_line and "-0.1000" in d_line
