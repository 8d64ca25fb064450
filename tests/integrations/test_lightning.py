"""MixtureCallback end to end: a tiny Lightning model trained with online weights (ODM from the step's
outputs; R&B from final-layer gradients taken inside training_step), checkpointed, resumed: the resumed run
trains on exactly the batches the uninterrupted run trained on after the checkpoint."""

import pytest
import torch
from integration_extras import requires

pytestmark = requires("lightning")

STEPS, SAVE = 10, 4


def run(out, method_name, ckpt=None):
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint
    from torch.utils.data import DataLoader

    from mixkit.domain import ODM, MixtureSampler, RnB
    from mixkit.integrations import DomainDataset, MixtureKeyStream, OnlineMixing, per_example_loss
    from mixkit.integrations.lightning import MixtureCallback

    g = torch.Generator().manual_seed(0)
    sources = {
        d: [{"input_ids": r, "labels": r} for r in torch.randint(lo, hi, (20, 9), generator=g)]
        for d, (lo, hi) in {"a": (0, 8), "b": (8, 16), "c": (16, 32)}.items()
    }
    data = DomainDataset(sources)
    keys = MixtureKeyStream(MixtureSampler(data.sizes, {"a": 1, "b": 1, "c": 1}, seed=0), 4)
    method = ODM(list(data.names)) if method_name == "odm" else RnB(list(data.names), round_steps=2)
    mixing = OnlineMixing(method, keys, dataset=data, final_layer=lambda m: m.head.weight)
    callback = MixtureCallback(mixing)

    class Tiny(L.LightningModule):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.emb, self.head = torch.nn.Embedding(32, 8), torch.nn.Linear(8, 32)

        def training_step(self, batch, batch_idx):
            losses = per_example_loss(self.head(torch.tanh(self.emb(batch["input_ids"]))), batch["labels"])
            if method_name == "rnb":  # gradients need the graph: observe before backward
                return callback.observe(self, losses, batch["domain_ids"])
            return {"loss": losses.mean(), "per_example_loss": losses, "domain_ids": batch["domain_ids"]}

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.5)

    seen = []

    class Record(L.Callback):
        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            seen.append((batch["domain_ids"].tolist(), batch["input_ids"].tolist()))

    trainer = L.Trainer(
        max_steps=STEPS,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=[callback, Record(), ModelCheckpoint(dirpath=out, every_n_train_steps=SAVE, save_top_k=-1)],
    )
    trainer.fit(Tiny(), DataLoader(data, batch_size=4, sampler=keys), ckpt_path=ckpt)
    return seen, mixing, trainer


@pytest.mark.parametrize("method_name", ["odm", "rnb"])
def test_callback_mixes_online_and_resumes_the_same_stream(tmp_path, method_name):
    full, mixing, trainer = run(str(tmp_path), method_name)
    assert len(full) == STEPS
    final = mixing.history[-1][1]
    assert max(abs(v - 1 / 3) for v in final.values()) > 1e-3
    logged = trainer.callback_metrics
    assert float(logged["mixture/a"]) == pytest.approx(final["a"], rel=1e-5)
    ckpt = next(tmp_path.glob(f"*step={SAVE}.ckpt"))
    resumed, mixing2, _ = run(str(tmp_path / "again"), method_name, ckpt=str(ckpt))
    assert resumed == full[SAVE:]
    assert mixing2.method.state_dict() == mixing.method.state_dict()
    assert mixing2.history == mixing.history


def test_callback_needs_the_per_example_losses(tmp_path):
    from mixkit.domain import ODM, MixtureSampler
    from mixkit.integrations import MixtureKeyStream, OnlineMixing
    from mixkit.integrations.lightning import MixtureCallback

    keys = MixtureKeyStream(MixtureSampler({"a": 2, "b": 2}, {"a": 1, "b": 1}), 2)
    cb = MixtureCallback(OnlineMixing(ODM(["a", "b"]), keys))
    with pytest.raises(ValueError, match="per_example_loss"):
        cb.on_train_batch_end(None, None, {"loss": torch.tensor(1.0)}, None, 0)
    with pytest.raises(ValueError, match="batches"):
        cb.load_state_dict({"x": 1})
