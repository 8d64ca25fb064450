"""Online domain mixing in the Hugging Face ``Trainer``: a tiny GPT-2 trained on three synthetic "domains"
(one of them streamed from a ``datasets.IterableDataset``) with ODM adapting the mixture every step, then a
second run resumed from a mid-training checkpoint that trains on exactly the same batches.

    pip install 'mixkit[hf]'
    PYTHONPATH=src python examples/hf_trainer_domains.py [--steps 40] [--out /tmp/mixkit-hf]

Prints the weights over training and checks that the resumed run's batches after the checkpoint equal the
uninterrupted run's.
"""

from __future__ import annotations

import argparse
import shutil

import datasets
import torch
from transformers import GPT2Config, GPT2LMHeadModel, TrainingArguments

from mixkit.domain import ODM, MixtureSampler
from mixkit.integrations import DomainDataset, MixtureKeyStream, OnlineMixing, StreamingSource
from mixkit.integrations.hf_trainer import MixtureTrainer

VOCAB, SEQ, BATCH = 48, 17, 8


def build_sources(seed: int = 0) -> dict:
    """Three domains of token sequences: 'easy' repeats one token, 'mid' counts up, 'noise' is random and
    is streamed (no random access), as a Hugging Face streaming dataset would be."""
    g = torch.Generator().manual_seed(seed)
    easy = [[int(t)] * SEQ for t in torch.randint(0, 16, (200,), generator=g)]
    mid = [[(int(s) + i) % 32 for i in range(SEQ)] for s in torch.randint(0, 32, (200,), generator=g)]
    noise = torch.randint(0, VOCAB, (300, SEQ), generator=g).tolist()
    streamed = datasets.Dataset.from_dict({"input_ids": noise}).to_iterable_dataset(num_shards=4)
    return {
        "easy": [{"input_ids": r, "labels": r} for r in easy],
        "mid": [{"input_ids": r, "labels": r} for r in mid],
        "noise": StreamingSource(streamed.map(lambda row: {"labels": row["input_ids"]}), size=300),
    }


def train(out: str, steps: int, save_every: int, resume: str | None = None) -> tuple[list, OnlineMixing]:
    torch.manual_seed(0)
    model = GPT2LMHeadModel(
        GPT2Config(
            vocab_size=VOCAB, n_positions=SEQ, n_embd=32, n_layer=2, n_head=2, bos_token_id=0, eos_token_id=0
        )
    )
    data = DomainDataset(build_sources())  # items gain a "domain_ids" column
    sampler = MixtureSampler(data.sizes, {n: 1.0 for n in data.names}, seed=0)
    keys = MixtureKeyStream(sampler, BATCH, sequential=data.sequential_domains)
    mixing = OnlineMixing(ODM(list(data.names)), keys, dataset=data)
    args = TrainingArguments(
        out,
        max_steps=steps,
        per_device_train_batch_size=BATCH,
        learning_rate=3e-3,
        save_strategy="steps",
        save_steps=save_every,
        logging_steps=10,
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
    )
    trainer = MixtureTrainer(model=model, args=args, train_dataset=data, mixing=mixing)
    batches: list = []
    compute = trainer.compute_loss

    def recording(model, inputs, **kw):  # remember what each step trained on
        batches.append(inputs["input_ids"].tolist())
        return compute(model, inputs, **kw)

    trainer.compute_loss = recording
    trainer.train(resume_from_checkpoint=resume)
    return batches, mixing


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--out", default="/tmp/mixkit-hf-trainer-domains")
    a = ap.parse_args()
    shutil.rmtree(a.out, ignore_errors=True)
    half = a.steps // 2
    full, mixing = train(a.out, a.steps, half)
    for step, w in mixing.history[:: max(1, len(mixing.history) // 5)] + mixing.history[-1:]:
        print(f"after step {step:3d}: " + "  ".join(f"{d}={v:.3f}" for d, v in w.items()))
    resumed, again = train(a.out, a.steps, half, resume=f"{a.out}/checkpoint-{half}")
    same = resumed == full[half:]
    print(f"resumed from step {half}: {len(resumed)} batches, identical to the uninterrupted run: {same}")
    print(f"final weights identical: {again.history[-1] == mixing.history[-1]}")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
