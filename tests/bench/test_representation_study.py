"""The representation studies run end to end on tiny settings and report their metric."""

import torch

from mixkit.bench.studies.representation_study import (
    contrastive_study,
    main,
    metric_study,
    recall_at_1,
    regression_study,
)


def test_recall_at_1():
    emb = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [0.95, 0.0]])
    assert recall_at_1(emb, torch.tensor([0, 0, 1, 1, 0])) == 1.0
    assert recall_at_1(emb, torch.tensor([0, 1, 0, 1, 1])) < 1.0


def test_studies_run_and_report(capsys):
    rows = contrastive_study(seeds=(0,), steps=3, batch=32, queue_size=64, n_hard=8, s=8, s_prime=4)
    assert [r["method"] for r in rows] == ["moco", "mochi"]
    assert all(0 <= r["linear_probe_acc"] <= 1 for r in rows)
    rows = metric_study(seeds=(0,), steps=3, per_class=4)
    assert len(rows) == 4 and all(0 <= r["recall_at_1"] <= 1 for r in rows)
    rows = regression_study(seeds=(0,), steps=3, batch=16)
    assert [r["method"] for r in rows] == ["l1_regression", "supcon", "supremix"]
    assert all(r["rmse"] > 0 for r in rows)
    import mixkit.bench.studies.representation_study as study
    saved = study.regression_study
    study.regression_study = lambda seeds: saved(seeds, steps=2, batch=8)
    try:
        table = main(["--seeds", "1", "--study", "regression"])
    finally:
        study.regression_study = saved
    assert "supremix" in capsys.readouterr().out
    assert "| supremix |" in table and "vs supcon" in table  # compared with its own baseline
