"""The command line's shared grammar and conveniences: ``--domain`` across plan/search/train,
``recommended.json`` that ``mixture train`` runs without repeating the domains, ``--version``,
``list --json``, ``--no-progress``, help text for every option, Markdown escaping, and no empty folder after
a failed run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

import mixkit
from mixkit.cli import bench_command, build_parser, main, train_command
from mixkit.cli.checks import UsageError, markdown_cell
from mixkit.cli.domains import parse_domain_spec
from mixkit.sample import available

TINY = ["--d-model", "16", "--layers", "1", "--seq-len", "16", "--batch-size", "2", "--max-bytes", "4000",
        "--no-progress"]


def _domains(root: Path) -> list[str]:
    for name, word in (("en", "the quick brown fox jumps over the lazy dog"), ("de", "der schnelle Fuchs")):
        (root / name).mkdir()
        for i in range(6):
            (root / name / f"{i}.txt").write_text(f"{word} {i}. " * 12)
    return ["--domain", f"en=folder:{root / 'en'}", "--domain", f"de=folder:{root / 'de'}"]


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"mixkit {mixkit.__version__}"


def test_list_json_matches_the_registry(capsys):
    assert main(["list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    rows = {r.name: r for r in available()}
    assert [m["name"] for m in data["mixers"]] == list(rows)
    cutmix = next(m for m in data["mixers"] if m["name"] == "cutmix")
    assert cutmix["defaults"]["alpha"] == rows["cutmix"].defaults["alpha"]
    assert cutmix["release"].startswith("clovaai/CutMix-PyTorch")
    assert {"decoupled_mixup_loss", "mixoe_loss"} <= {m["name"] for m in data["losses"]}
    for entry in data["mixers"] + data["losses"]:
        assert set(entry) == {"name", "aliases", "paper", "url", "release", "defaults"}


def _parsers(parser: argparse.ArgumentParser, path: str = "mixkit"):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


def test_every_option_is_described_in_help():
    parsers = [*_parsers(build_parser()), ("text-domains", bench_command.text_domains_parser())]
    seen = 0
    for path, parser in parsers:
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            seen += 1
            assert action.help and action.help != argparse.SUPPRESS, f"{path} {action.option_strings}"
    assert seen > 80


def test_domain_grammar_is_the_same_for_plan_search_and_train(tmp_path):
    parser = build_parser()
    spec = f"code=jsonl:{tmp_path / 'c.jsonl'}"
    for command in ("plan", "search", "train"):
        args = parser.parse_args(["mixture", command, "--domain", spec, "--domain", "fortunes:de"])
        assert args.domain == [spec, "fortunes:de"], command
    (tmp_path / "c.jsonl").write_text("{}\n")
    assert parse_domain_spec(spec) == ("code", "jsonl", str(tmp_path / "c.jsonl"))
    assert parse_domain_spec("stdlib") == (None, "stdlib", "")
    assert parse_domain_spec("fortunes") == (None, "fortunes", "en")
    with pytest.raises(UsageError, match="--domain"):
        parse_domain_spec("code=jsonl:")


def test_search_writes_sources_and_train_reuses_them(tmp_path, capsys):
    domains = _domains(tmp_path)
    out_s, out_t = tmp_path / "s", tmp_path / "t"
    legacy = ["--domains", ",".join(domains[1::2])]  # the deprecated spelling still works, with a note
    assert main(["mixture", "search", *legacy, *TINY, "--steps", "1", "--initial", "3", "--holdout", "3",
                 "--regressor", "loglinear", "--candidates", "64", "--top-k", "4", "--out", str(out_s)]) == 0
    err = capsys.readouterr().err
    assert "mixkit: note: --domains is deprecated" in err
    rec = json.loads((out_s / "latest-recommended.json").read_text())
    assert rec["sources"] == domains[1::2] and set(rec["mixture"]) == {"en", "de"}
    run = next((out_s / "search").iterdir())
    assert json.loads((run / "recommended.json").read_text())["sources"] == rec["sources"]
    # no --domain: the sources come from the file
    rec_path = str(out_s / "latest-recommended.json")
    assert main(["mixture", "train", "--weights", rec_path, "--method", "static", "--no-baselines", "--steps",
                 "2", *TINY, "--out", str(out_t)]) == 0
    res = json.loads((next((out_t / "train").iterdir()) / "results.json").read_text())
    assert res["sources"] == rec["sources"] and list(res["results"]) == ["static"]
    assert res["results"]["static"][0]["final_weights"] == pytest.approx(
        {k: v / sum(rec["mixture"].values()) for k, v in rec["mixture"].items()}, abs=1e-6)


def test_load_weights_forms(tmp_path):
    rec = tmp_path / "rec.json"
    rec.write_text(json.dumps({"mixture": {"a": 0.25, "b": 0.75}, "regressor": "gbt", "sources": ["stdlib"]}))
    assert train_command.load_weights(str(rec)) == ({"a": 0.25, "b": 0.75}, ("stdlib",))
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"recommended": {"mixture": {"a": 1}},
                                   "proxy": {"sources": ["fortunes:en"]}}))
    assert train_command.load_weights(str(results)) == ({"a": 1.0}, ("fortunes:en",))
    plain = tmp_path / "plain.json"
    plain.write_text('{"a": 2, "b": 1}')
    assert train_command.load_weights(str(plain)) == ({"a": 2.0, "b": 1.0}, None)
    assert train_command.load_weights("a=0.5, b=0.5") == ({"a": 0.5, "b": 0.5}, None)
    assert train_command.load_weights(None) == (None, None)


def test_weights_without_sources_ask_for_the_domains(tmp_path, capsys):
    domains = _domains(tmp_path)
    assert main(["mixture", "train", "--weights", "x=1", "--method", "static", *domains, *TINY,
                 "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "['x']" in err and "not among the domains" in err
    assert not (tmp_path / "o").exists()


def test_markdown_escaping_of_method_specs():
    assert markdown_cell("mixup|cutmix") == "mixup\\|cutmix"
    table = ("| method | top-1 % |\n|---|---|\n| mixup|cutmix | 90.0 |\n| none | 80.0 |\n\n"
             "- `mixup|cutmix`: ok")
    out = bench_command.escape_method_cells(table, ["mixup|cutmix", "none"])
    rows = out.splitlines()
    assert rows[2] == "| mixup\\|cutmix | 90.0 |" and rows[3] == "| none | 80.0 |"
    assert rows[-1] == "- `mixup|cutmix`: ok"  # code spans outside the table keep the spec
    for row in rows[:4]:  # every row has as many unescaped separators as the header
        assert row.replace("\\|", "").count("|") == 3


def test_failed_run_leaves_no_empty_folder(tmp_path, monkeypatch, capsys):
    out = tmp_path / "new" / "results"

    def fails(args):
        (Path(args.out) / "train" / "stamp").mkdir(parents=True)
        raise UsageError("something the run found out late")

    monkeypatch.setattr(train_command, "train", fails)
    assert main(["mixture", "train", "--out", str(out)]) == 2
    assert capsys.readouterr().err == "mixkit: error: something the run found out late\n"
    assert not (tmp_path / "new").exists()
    kept = tmp_path / "kept"
    (kept / "old").mkdir(parents=True)
    assert main(["mixture", "train", "--out", str(kept)]) == 2
    assert (kept / "old").is_dir()  # folders that were there before stay


def test_bench_no_progress_prints_one_line_per_run(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MIXKIT_CACHE", str(tmp_path / "cache"))
    assert main(["bench", "--dataset", "digits", "--methods", "none", "mixup|cutmix", "--epochs", "1",
                 "--seeds", "1", "--train-subset", "64", "--test-subset", "32", "--workers", "1",
                 "--no-progress", "--out", str(tmp_path / "r")]) == 0
    captured = capsys.readouterr()
    assert "run 1/2: " in captured.out and "run 2/2: " in captured.out
    assert "runs:" not in captured.err  # no progress bar
    table = next((tmp_path / "r" / "digits").glob("*/table.md")).read_text()
    assert "| mixup\\|cutmix |" in table
