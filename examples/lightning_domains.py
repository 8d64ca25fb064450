"""Online domain mixing in Lightning: a tiny next-token model trained on three synthetic "domains" with an
online method adapting the mixture (ODM from the step's per-example losses, or R&B from final-layer
gradients), then a second run resumed from a mid-training checkpoint that trains on exactly the same batches.

    pip install 'mixkit[lightning]'
    PYTHONPATH=src python examples/lightning_domains.py [--method odm|rnb] [--steps 40]

Prints the weights over training and checks that the resumed run's batches after the checkpoint equal the
uninterrupted run's.
"""

from __future__ import annotations

import argparse
import shutil

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader

from mixkit.domain import ODM, MixtureSampler, RnB
from mixkit.integrations import DomainDataset, MixtureKeyStream, OnlineMixing, per_example_loss
from mixkit.integrations.lightning import MixtureCallback

VOCAB, SEQ, BATCH = 48, 17, 8


def build_sources(seed: int = 0) -> dict:
    """'easy' repeats one token, 'mid' counts up, 'noise' is random."""
    g = torch.Generator().manual_seed(seed)
    easy = [[int(t)] * SEQ for t in torch.randint(0, 16, (200,), generator=g)]
    mid = [[(int(s) + i) % 32 for i in range(SEQ)] for s in torch.randint(0, 32, (200,), generator=g)]
    noise = torch.randint(0, VOCAB, (300, SEQ), generator=g).tolist()
    rows = {"easy": easy, "mid": mid, "noise": noise}
    return {
        d: [{"input_ids": torch.tensor(r), "labels": torch.tensor(r)} for r in rs] for d, rs in rows.items()
    }


class TinyLM(L.LightningModule):
    """Embedding -> GRU -> output layer; per-example next-token losses go to the mixing callback."""

    def __init__(self, callback: MixtureCallback, use_gradients: bool) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.emb, self.rnn = torch.nn.Embedding(VOCAB, 32), torch.nn.GRU(32, 32, batch_first=True)
        self.head = torch.nn.Linear(32, VOCAB)
        self.callback, self.use_gradients = callback, use_gradients

    def training_step(self, batch: dict, batch_idx: int):
        logits = self.head(self.rnn(self.emb(batch["input_ids"]))[0])
        losses = per_example_loss(logits, batch["labels"])  # [B], with its graph
        if self.use_gradients:  # R&B reads gradients: before backward
            return self.callback.observe(self, losses, batch["domain_ids"])
        return {"loss": losses.mean(), "per_example_loss": losses, "domain_ids": batch["domain_ids"]}

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=3e-3)


def train(out: str, method: str, steps: int, save_every: int, ckpt: str | None = None):
    data = DomainDataset(build_sources())
    keys = MixtureKeyStream(MixtureSampler(data.sizes, {n: 1.0 for n in data.names}, seed=0), BATCH)
    online = ODM(list(data.names)) if method == "odm" else RnB(list(data.names), round_steps=5)
    mixing = OnlineMixing(online, keys, dataset=data, final_layer=lambda m: m.head.weight)
    callback = MixtureCallback(mixing)
    batches: list = []

    class Record(L.Callback):
        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            batches.append(batch["input_ids"].tolist())

    trainer = L.Trainer(
        max_steps=steps,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[
            callback,
            Record(),
            ModelCheckpoint(dirpath=out, every_n_train_steps=save_every, save_top_k=-1),
        ],
    )
    trainer.fit(
        TinyLM(callback, method == "rnb"), DataLoader(data, batch_size=BATCH, sampler=keys), ckpt_path=ckpt
    )
    return batches, mixing


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--method", choices=["odm", "rnb"], default="odm")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--out", default="/tmp/mixkit-lightning-domains")
    a = ap.parse_args()
    shutil.rmtree(a.out, ignore_errors=True)
    half = a.steps // 2
    full, mixing = train(a.out, a.method, a.steps, half)
    for step, w in mixing.history[:: max(1, len(mixing.history) // 5)] + mixing.history[-1:]:
        print(f"after step {step:3d}: " + "  ".join(f"{d}={v:.3f}" for d, v in w.items()))
    resumed, again = train(
        a.out + "-resumed", a.method, a.steps, half, ckpt=f"{a.out}/epoch=0-step={half}.ckpt"
    )
    same = resumed == full[half:]
    print(f"resumed from step {half}: {len(resumed)} batches, identical to the uninterrupted run: {same}")
    print(f"final weights identical: {again.history[-1] == mixing.history[-1]}")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
