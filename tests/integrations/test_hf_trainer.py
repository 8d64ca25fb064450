"""MixtureTrainer end to end: a tiny GPT-2 trained with ODM weights over three domains (one streamed from a
Hugging Face IterableDataset), checkpointed, resumed: the resumed run trains on exactly the batches the
uninterrupted run trained on after the checkpoint, and ends with the same method state."""

import json
import os

import pytest
import torch
from integration_extras import requires

pytestmark = requires("hf")

STEPS, SAVE = 8, 4


def sources():
    import datasets

    from mixkit.integrations import StreamingSource

    g = torch.Generator().manual_seed(0)
    out = {}
    for d, (lo, hi) in {"a": (0, 8), "b": (8, 16)}.items():
        rows = torch.randint(lo, hi, (24, 9), generator=g).tolist()
        out[d] = [{"input_ids": r, "labels": r} for r in rows]
    rows = torch.randint(16, 32, (30, 9), generator=g).tolist()
    streamed = datasets.Dataset.from_dict({"input_ids": rows, "labels": rows}).to_iterable_dataset(
        num_shards=3
    )
    out["s"] = StreamingSource(streamed, size=30)
    return out


def run(out, resume=None, accumulate=1):
    from transformers import GPT2Config, GPT2LMHeadModel, TrainingArguments

    from mixkit.domain import ODM, MixtureSampler
    from mixkit.integrations import DomainDataset, MixtureKeyStream, OnlineMixing
    from mixkit.integrations.hf_trainer import MixtureTrainer

    torch.manual_seed(0)
    cfg = GPT2Config(
        vocab_size=32,
        n_positions=16,
        n_embd=16,
        n_layer=1,
        n_head=2,  # dropout on: the
        bos_token_id=0,
        eos_token_id=0,
    )  # resumed run must restore the random state
    data = DomainDataset(sources())
    keys = MixtureKeyStream(
        MixtureSampler(data.sizes, {"a": 1, "b": 1, "s": 1}, seed=0), 4, data.sequential_domains
    )
    mixing = OnlineMixing(ODM(list(data.names)), keys, dataset=data)
    args = TrainingArguments(
        out,
        max_steps=STEPS,
        per_device_train_batch_size=4,
        save_strategy="steps",
        save_steps=SAVE,
        logging_steps=2,
        gradient_accumulation_steps=accumulate,
        report_to=[],
        use_cpu=True,
        learning_rate=1e-2,
        disable_tqdm=True,
        seed=0,
    )
    trainer = MixtureTrainer(model=GPT2LMHeadModel(cfg), args=args, train_dataset=data, mixing=mixing)
    seen = []
    compute = trainer.compute_loss

    def recording(model, inputs, **kw):
        seen.append((inputs["domain_ids"].tolist(), inputs["input_ids"].tolist()))
        return compute(model, inputs, **kw)

    trainer.compute_loss = recording
    trainer.train(resume_from_checkpoint=resume)
    return seen, mixing, trainer


@pytest.mark.parametrize("accumulate", [1, 2])
def test_trainer_mixes_online_and_resumes_the_same_stream(tmp_path, accumulate):
    full, mixing, trainer = run(str(tmp_path), accumulate=accumulate)
    assert len(full) == STEPS * accumulate
    weights = [w for _, w in mixing.history]
    assert len(weights) == STEPS + 1 and max(abs(v - 1 / 3) for v in weights[-1].values()) > 1e-3
    logged = [h for h in trainer.state.log_history if "mixture/a" in h]
    assert len(logged) >= STEPS and logged[-1]["mixture/s"] == pytest.approx(weights[-1]["s"])
    assert any(d == 2 for ids, _ in full for d in ids)  # the streamed domain was trained on
    ckpt = tmp_path / f"checkpoint-{SAVE}"
    state = json.loads((ckpt / "mixkit_mixing.json").read_text())
    trained = SAVE * accumulate  # micro-batches before the checkpoint
    assert state["format"] == "mixkit.online_mixing" and state["keys"]["batches"] == trained
    assert state["streams"]["s"]["position"] == sum(ids.count(2) for ids, _ in full[:trained])

    resumed, mixing2, _ = run(str(tmp_path), resume=str(ckpt), accumulate=accumulate)
    assert resumed == full[trained:]
    assert mixing2.method.state_dict() == mixing.method.state_dict()
    assert mixing2.history == mixing.history
    assert os.path.isfile(tmp_path / f"checkpoint-{STEPS}" / "mixkit_mixing.json")


def test_trainer_refuses_a_mismatched_batch_size(tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel, TrainingArguments

    from mixkit.domain import MixtureSampler
    from mixkit.integrations import DomainDataset, MixtureKeyStream, OnlineMixing
    from mixkit.integrations.hf_trainer import MixtureTrainer

    data = DomainDataset({"a": [{"input_ids": [1, 2]}], "b": [{"input_ids": [3, 4]}]})
    mixing = OnlineMixing(None, MixtureKeyStream(MixtureSampler(data.sizes, {"a": 1, "b": 1}), 2))
    args = TrainingArguments(
        str(tmp_path), max_steps=1, per_device_train_batch_size=3, report_to=[], use_cpu=True
    )
    model = GPT2LMHeadModel(
        GPT2Config(vocab_size=8, n_positions=4, n_embd=4, n_layer=1, n_head=1, bos_token_id=0, eos_token_id=0)
    )
    with pytest.raises(ValueError, match="batch_size"):
        MixtureTrainer(model=model, args=args, train_dataset=data, mixing=mixing)


def test_callback_alone_saves_json_and_restores_it_for_a_plain_trainer(tmp_path):
    import itertools
    from types import SimpleNamespace

    from mixkit.domain import ODM, MixtureSampler
    from mixkit.integrations import MixtureKeyStream, OnlineMixing
    from mixkit.integrations.hf_trainer import MixtureTrainerCallback

    def build():
        keys = MixtureKeyStream(MixtureSampler({"a": 5, "b": 9}, {"a": 1, "b": 1}, seed=1), 2)
        return OnlineMixing(ODM(["a", "b"]), keys)

    mixing = build()
    cb = MixtureTrainerCallback(mixing)
    args = SimpleNamespace(output_dir=str(tmp_path), gradient_accumulation_steps=1, ignore_data_skip=True,
                           process_index=0, world_size=1)
    state = SimpleNamespace(global_step=0, log_history=[])
    cb.on_train_begin(args, state, None)
    it = iter(mixing.keys)
    list(itertools.islice(it, 4))  # the loader reads one batch ahead
    for step in range(3):
        list(itertools.islice(it, 2))
        mixing.observe(step, torch.tensor([1.0 + step, 2.0]), torch.tensor([0, 1]))
        state.global_step = step + 1
        cb.on_step_end(args, state, None)
    cb.on_save(args, state, None)
    saved = json.loads((tmp_path / "checkpoint-3" / "mixkit_mixing.json").read_text())
    assert saved["keys"]["batches"] == 3 and len(state.log_history) == 3
    expected = list(itertools.islice(it, 6))

    other = build()
    MixtureTrainerCallback(other).on_train_begin(args, state, None)  # finds checkpoint-3 by itself
    assert list(itertools.islice(iter(other.keys), 10))[4:] == expected  # batches 3, 4 were read ahead
    assert other.method.state_dict() == mixing.method.state_dict()
    with pytest.raises(ValueError, match="ignore_data_skip"):
        MixtureTrainerCallback(build()).on_train_begin(
            SimpleNamespace(**{**vars(args), "ignore_data_skip": False}), state, None)
