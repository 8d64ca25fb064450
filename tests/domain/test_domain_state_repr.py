"""Every stateful domain object round-trips its state into a fresh instance, MixtureSampler drives a plain
DataLoader as a torch Sampler, and every object has a readable repr."""

from __future__ import annotations

import json

import pytest
import torch
from domain_fakes import Tagged
from torch.utils.data import DataLoader, Sampler

from mixkit.domain import (
    DGA,
    ODM,
    Aioli,
    Constant,
    Cooldown,
    DoReMi,
    EndUpsample,
    JsonlSource,
    LinearSchedule,
    MixtureDataset,
    MixtureEpochSampler,
    MixtureIterableDataset,
    MixtureSampler,
    RnB,
    ScheduleDriver,
    StepSchedule,
)

NAMES = ["a", "b", "c"]
SIZES = {"a": 40, "b": 25, "c": 9}
WEIGHTS = {"a": 0.5, "b": 0.3, "c": 0.2}


def _signal(step: int) -> dict:
    g = torch.Generator().manual_seed(step)
    losses = {n: 1.0 + torch.rand((), generator=g, dtype=torch.float64).item() for n in NAMES}
    grads = {n: torch.randn(16, generator=g) for n in [*NAMES, "target"]}
    return {"losses_by_domain": losses, "grads_by_domain": grads}


METHODS = {
    "doremi": lambda: DoReMi(NAMES, reference_losses={"a": 1.2, "b": 1.1, "c": 1.4}, step_size=0.5),
    "odm": lambda: ODM(NAMES, warmup_steps=3),
    "odm-exp3": lambda: ODM(NAMES, rule="exp3"),
    "aioli-window": lambda: Aioli(
        NAMES, estimator="window", window=5, update_every=2, perturb_every=2, seed=3
    ),
    "aioli-probe": lambda: Aioli(NAMES, round_steps=8, probe_rounds=1, probe_steps=2, seed=1),
    "dga": lambda: DGA(NAMES, target="target", every=2),
    "dga-basis": lambda: DGA(
        NAMES, target="target", every=2, ema=0.3, basis={"p": {"a": 1, "b": 1}, "q": {"c": 1}}
    ),
    "rnb": lambda: RnB(NAMES, round_steps=3),
}


def _run(method, steps: range) -> list[dict[str, float]]:
    out = []
    for step in steps:
        if method.wants_signal(step):
            signal = _signal(step)
            if isinstance(method, RnB):  # R&B takes the training domains' gradients only
                signal["grads_by_domain"] = {n: signal["grads_by_domain"][n] for n in NAMES}
            out.append(method.update(step, **signal))
    return out


@pytest.mark.parametrize("name", sorted(METHODS))
def test_online_method_state_loads_into_a_fresh_instance(name):
    method = METHODS[name]()
    _run(method, range(-1, 13))
    state = json.loads(json.dumps(method.state_dict()))  # plain JSON, like the sampler's
    fresh = METHODS[name]()
    fresh.load_state_dict(state)
    assert fresh.weights == method.weights and fresh.steps_seen == method.steps_seen
    assert _run(fresh, range(13, 30)) == _run(method, range(13, 30))
    again = METHODS[name]()
    again.load_state_dict(fresh.state_dict())
    assert again.weights == method.weights


def test_online_state_refuses_another_method():
    with pytest.raises(ValueError, match="state is for"):
        ODM(NAMES).load_state_dict(DoReMi(NAMES).state_dict())


def test_schedule_driver_state_round_trips():
    sampler = MixtureSampler(SIZES, WEIGHTS, seed=1)
    sched = StepSchedule([(0.0, WEIGHTS), (0.5, {"a": 0.1, "b": 0.1, "c": 0.8})])
    driver = ScheduleDriver(sampler, sched, total_steps=10)
    for step in range(7):
        driver.step(step)
        sampler.take(4)
    assert driver.updates == 1
    resumed = MixtureSampler(SIZES, WEIGHTS, seed=1)
    resumed.load_state_dict(json.loads(json.dumps(sampler.state_dict())))
    fresh = ScheduleDriver(resumed, sched, total_steps=10)
    fresh.load_state_dict(json.loads(json.dumps(driver.state_dict())))
    assert fresh.state_dict() == driver.state_dict()
    for step in range(7, 10):
        assert fresh.step(step) == driver.step(step)
        assert resumed.take(4).keys() == sampler.take(4).keys()
    assert fresh.updates == driver.updates


def test_mixture_sampler_is_a_torch_sampler_for_a_plain_dataloader():
    datasets = {n: Tagged(i, SIZES[n]) for i, n in enumerate(NAMES)}
    sampler = MixtureSampler(SIZES, WEIGHTS, seed=4, on_exhausted="stop")
    assert isinstance(sampler, Sampler)
    expected = MixtureSampler(SIZES, WEIGHTS, seed=4, on_exhausted="stop").take(10_000).keys()
    loader = DataLoader(MixtureDataset(datasets), sampler=sampler, batch_size=8)
    got = [tuple(row) for batch in loader for row in batch.tolist()]
    assert got == [(NAMES.index(d), i) for d, i in expected]
    assert sampler.exhausted


def test_reprs_are_readable(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"x": 1}\n{"x": 2}\n')
    sampler = MixtureSampler(SIZES, WEIGHTS)
    datasets = {n: Tagged(i, SIZES[n]) for i, n in enumerate(NAMES)}
    objects = [
        sampler,
        MixtureDataset(datasets),
        MixtureEpochSampler(sampler, length=10),
        MixtureIterableDataset(datasets, sampler, chunk_size=4),
        JsonlSource(path),
        Constant(WEIGHTS),
        LinearSchedule([(0.0, WEIGHTS), (1.0, {"a": 1.0})]),
        StepSchedule([(0.0, WEIGHTS)]),
        Cooldown(SIZES),
        EndUpsample(WEIGHTS, {"c": 2.0}),
        ScheduleDriver(sampler, Constant(WEIGHTS), total_steps=5),
        *(make() for make in METHODS.values()),
    ]
    for obj in objects:
        text = repr(obj)
        assert " at 0x" not in text and text.startswith(type(obj).__name__ + "("), text
    assert repr(Constant({"a": 1, "b": 3})) == "Constant({a: 0.25, b: 0.75})"
    assert repr(ODM(["a", "b"])) == (
        "ODM(weights={a: 0.5, b: 0.5}, rule='smoothed_mean', smoothing=0.9, warmup_steps=0, steps_seen=0)"
    )


@pytest.mark.parametrize("name", sorted(METHODS))
def test_online_state_is_validated_on_load(name):
    state = json.loads(json.dumps(METHODS[name]().state_dict()))
    for field in [f for f in state if f not in ("method", "domains")]:
        broken = dict(state)
        del broken[field]
        with pytest.raises(ValueError, match=repr(field)):
            METHODS[name]().load_state_dict(broken)
    broken = dict(state, p=[float("nan")] * len(NAMES))
    with pytest.raises(ValueError, match="'p'"):
        METHODS[name]().load_state_dict(broken)
