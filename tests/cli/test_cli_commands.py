"""The command line: every command registered, the study suites of ``mixkit bench`` and their results page."""

from pathlib import Path

import pytest

from mixkit.bench.results_page import read_section
from mixkit.cli import build_parser, main


def test_every_command_is_registered(capsys):
    parser = build_parser()
    for argv in (["list"], ["bench"], ["gallery"], ["mixture", "plan"], ["mixture", "search"],
                 ["mixture", "train"]):
        assert callable(parser.parse_args(argv).func)
    assert main([]) == 2
    assert main(["mixture"]) == 2
    assert "plan" in capsys.readouterr().out


def test_list_command(capsys):
    assert main(["list", "-v"]) == 0
    out = capsys.readouterr().out
    assert "mixup" in out and "defaults:" in out


def test_image_suite_refuses_suite_options(capsys):
    assert main(["bench", "--suite", "quick", "--", "--seeds", "3"]) == 2
    assert "unrecognized" in capsys.readouterr().err


def test_study_suite_writes_its_section(tmp_path: Path, capsys):
    page = tmp_path / "results.md"
    page.write_text("# Results\n")
    argv = ["bench", "--suite", "regmix-active", "--results-page", str(page), "--",
            "--seeds", "1", "--domains", "3", "--initial", "3", "--active", "2", "--batch", "2"]
    assert main(argv) == 0
    section = read_section(page.read_text(), "regmix-active")
    assert section is not None and "| runs | active gbt |" in section
    assert page.read_text().startswith("# Results\n")


@pytest.mark.slow
def test_text_domains_suite_runs_search_then_train(tmp_path: Path):
    for name, word in (("a", "fox jumps over the lazy dog"), ("b", "Fuchs springt ueber den Hund")):
        (tmp_path / name).mkdir()
        for i in range(20):
            (tmp_path / name / f"{i}.txt").write_text(f"{word} {i}, again {i}.\n")
    page = tmp_path / "results.md"
    argv = ["bench", "--suite", "text-domains", "--out", str(tmp_path / "out"), "--results-page", str(page),
            "--", "--domains", f"a=folder:{tmp_path / 'a'},b=folder:{tmp_path / 'b'}", "--d-model", "16",
            "--layers", "1", "--seq-len", "16", "--batch-size", "4", "--steps", "3", "--proxy-steps", "2",
            "--initial", "3", "--active", "1", "--batch", "1", "--holdout", "3", "--method", "odm",
            "--no-progress"]
    assert main(argv) == 0
    out = tmp_path / "out" / "text-domains"
    assert (out / "latest-recommended.json").is_file()
    assert len(list((out / "search").iterdir())) == 1 and len(list((out / "train").iterdir())) == 1
    section = read_section(page.read_text(), "text-domains")
    assert "| odm |" in section and "| static |" in section
    assert "held-out Spearman" in read_section(page.read_text(), "regmix-search")


def test_results_key_chooses_the_section(tmp_path: Path):
    page = tmp_path / "results.md"
    argv = ["bench", "--suite", "regmix-active", "--results-page", str(page), "--results-key", "custom",
            "--", "--seeds", "1", "--domains", "3", "--initial", "4", "--active", "2", "--batch", "2"]
    assert main(argv) == 0
    assert read_section(page.read_text(), "custom") and "regmix-active" not in page.read_text()
