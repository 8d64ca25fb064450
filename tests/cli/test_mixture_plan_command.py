"""``mixkit mixture plan``: table, JSON and PNG outputs, JSONL counting, errors."""

from __future__ import annotations

import json

import pytest

from mixkit.cli import main
from mixkit.domain import temperature


def test_plan_prints_shares_and_epochs_and_writes_json_and_png(tmp_path, capsys):
    out, js = tmp_path / "plan.png", tmp_path / "plan.json"
    rc = main(["mixture", "plan", "--sizes", "web=9000000,code=400000,de=50000", "--total", "20000000",
               "--strategy", "temperature", "--temperature", "3", "--schedule", "cooldown", "--start", "0.6",
               "--points", "6", "--out", str(out), "--json", str(js)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "epochs" in text and "repeated" in text
    result = json.loads(js.read_text())
    sizes = {"web": 9_000_000, "code": 400_000, "de": 50_000}
    first = dict(zip(result["domains"], result["shares"][0]))
    assert first == pytest.approx(temperature(sizes, 3.0))
    last = dict(zip(result["domains"], result["shares"][-1]))
    assert last == pytest.approx(temperature(sizes, 1.0))  # cooled down to proportional
    for name, e, avg in zip(result["domains"], result["epochs"], result["average"]):
        assert e == pytest.approx(avg * 20_000_000 / sizes[name])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plan_counts_jsonl_files_and_reports_errors(tmp_path, capsys):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text('{"t": 1}\n' * 30)
    b.write_text('{"t": 2}\n' * 10)
    js = tmp_path / "p.json"
    assert main(["mixture", "plan", "--domain", f"a=jsonl:{a}", "--domain", f"b=jsonl:{b}", "--total", "100",
                 "--strategy", "unimax", "--max-epochs", "3", "--json", str(js)]) == 0
    result = json.loads(js.read_text())
    assert result["sizes"] == {"a": 30, "b": 10}
    assert result["average"] == pytest.approx([0.7, 0.3])  # uniform 50/50, but b is capped at 3 x 10
    capsys.readouterr()
    assert main(["mixture", "plan", "--sizes", "web=x"]) == 2
    assert "--sizes" in capsys.readouterr().err
    assert main(["mixture", "plan", "--sizes", "a=5", "--schedule", "linear"]) == 2
    assert "--to" in capsys.readouterr().err


def test_plan_keeps_the_deprecated_jsonl_spelling(tmp_path, capsys):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text('{"t": 1}\n' * 3)
    b.write_text('{"t": 2}\n' * 5)
    js = tmp_path / "p.json"
    assert main(["mixture", "plan", "--jsonl", f"a={a}", f"b={b}", "--json", str(js)]) == 0
    assert json.loads(js.read_text())["sizes"] == {"a": 3, "b": 5}
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "deprecated" in err and "--domain NAME=jsonl:PATH" in err


def test_plan_counts_documents_of_folder_domains(tmp_path):
    for name, n in (("x", 4), ("y", 2)):
        (tmp_path / name).mkdir()
        for i in range(n):
            (tmp_path / name / f"{i}.txt").write_text(f"document {i}\n")
    js = tmp_path / "p.json"
    assert main(["mixture", "plan", "--domain", f"x=folder:{tmp_path / 'x'}", "--domain",
                 f"y=folder:{tmp_path / 'y'}", "--json", str(js)]) == 0
    assert json.loads(js.read_text())["sizes"] == {"x": 4, "y": 2}


@pytest.mark.parametrize(
    "extra, at_start, at_end",
    [
        (["--schedule", "linear", "--start", "0.5", "--to", "a=0,b=1"], [0.5, 0.5], [0.0, 1.0]),
        (["--schedule", "step", "--start", "0.5", "--to", "a=1,b=0"], [0.5, 0.5], [1.0, 0.0]),
        (["--schedule", "upsample", "--upsample", "b=3", "--last-fraction", "0.2"], [0.5, 0.5], [0.25, 0.75]),
    ],
)
def test_plan_schedules_from_the_command_line(tmp_path, capsys, extra, at_start, at_end):
    js = tmp_path / "p.json"
    assert main(["mixture", "plan", "--sizes", "a=10,b=10", "--strategy", "uniform", "--points", "5",
                 "--json", str(js), *extra]) == 0
    result = json.loads(js.read_text())
    assert result["shares"][0] == pytest.approx(at_start)
    assert result["shares"][-1] == pytest.approx(at_end)
