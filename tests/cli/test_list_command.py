"""``mixkit list``: every mixer and every loss-side method, with paper, release and defaults, with or
without ``-v``."""

from mixkit.cli import main
from mixkit.sample import available
from mixkit.sample.losses import LOSS_METHODS, decoupled_mixup_loss, mixoe_loss


def _blocks(out: str) -> dict[str, str]:
    """Entry name -> its text (the first line starts at column 0, continuation lines are indented)."""
    blocks: dict[str, str] = {}
    name = None
    for line in out.splitlines():
        if line and not line[0].isspace() and not line.endswith(":"):
            name = line.split()[0]
            blocks[name] = line
        elif name is not None and line.strip():
            blocks[name] += "\n" + line
    return blocks


def test_list_prints_defaults_without_verbose(capsys):
    assert main(["list"]) == 0
    plain = capsys.readouterr().out
    assert main(["list", "-v"]) == 0
    assert capsys.readouterr().out == plain  # -v is still accepted
    blocks = _blocks(plain)
    cutmix = blocks["cutmix"]
    assert "release: clovaai/CutMix-PyTorch: train.py" in cutmix
    assert "defaults: alpha=1.0, correct_lam=True, mode='batch'" in cutmix
    for row in available():
        assert row.name in blocks


def test_list_shows_the_loss_side_methods(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "loss-side methods" in out
    blocks = _blocks(out)
    for name in ("decoupled_mixup_loss", "mixup_ranking_loss", "mndcg_loss", "mixoe_loss"):
        assert name in blocks, name
        assert "release: " in blocks[name] and "https://arxiv.org/abs/" in blocks[name]
    assert "RankMixup" in blocks["mndcg_loss"] and "MixOE" in blocks["mixoe_loss"]
    assert "zjysteven/MixOE" in blocks["mixoe_loss"]


def test_loss_catalog_reads_defaults_from_the_signatures():
    by_name = {m.name: m for m in LOSS_METHODS}
    assert by_name["decoupled_mixup_loss"].function is decoupled_mixup_loss
    assert by_name["mixoe_loss"].function is mixoe_loss
    assert "eta" in by_name["decoupled_mixup_loss"].defaults
    assert "reduction" not in by_name["decoupled_mixup_loss"].defaults
    assert by_name["mixoe_loss"].defaults == {}
    for m in LOSS_METHODS:  # a release is "repository: file.py"; empty only for paper-only methods
        assert m.release == "" or (": " in m.release and m.release.split(": ")[1].endswith(".py"))
    assert by_name["mochi_loss"].release == ""  # no authors' code
