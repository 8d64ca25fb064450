"""Static strategies and schedules: values at given progress points, caps, the schedule driver."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mixkit.domain import (
    Cooldown,
    EndUpsample,
    LinearSchedule,
    MixtureSampler,
    ScheduleDriver,
    StepSchedule,
    average_weights,
    cap_repetition,
    epochs,
    proportional,
    strategy,
    temperature,
    uniform,
    unimax,
)

sizes_st = st.dictionaries(st.sampled_from("abcdefgh"), st.integers(1, 10**9), min_size=1)


@settings(max_examples=40, deadline=None)
@given(sizes=sizes_st, t=st.floats(0.05, 50))
def test_temperature_is_power_law_of_sizes(sizes, t):
    w = temperature(sizes, t)
    assert math.isclose(sum(w.values()), 1.0, rel_tol=1e-12)
    names = list(sizes)
    for a in names:
        for b in names:
            # w_a / w_b == (n_a / n_b) ** (1 / T)
            assert math.isclose(math.log(w[a] / w[b]), math.log(sizes[a] / sizes[b]) / t,
                                rel_tol=1e-9, abs_tol=1e-9)


def test_temperature_limits_and_named_strategies():
    sizes = {"web": 9_000_000, "code": 400_000, "de": 50_000}
    assert proportional(sizes)["code"] == pytest.approx(400_000 / 9_450_000)
    assert uniform(sizes) == pytest.approx(dict.fromkeys(sizes, 1 / 3))
    assert temperature(sizes, 1e9) == pytest.approx(uniform(sizes))
    assert strategy("temperature", sizes, temperature=2.0) == temperature(sizes, 2.0)
    with pytest.raises(ValueError, match="temperature"):
        temperature(sizes, 0)
    with pytest.raises(ValueError, match="strategy must be one of"):
        strategy("zipf", sizes)


def test_unimax_caps_small_domains_and_shares_the_rest_uniformly():
    sizes = {"tiny": 10, "mid": 1000, "big": 10_000}
    w = unimax(sizes, total=900, max_epochs=2)
    # uniform would give 300 each; tiny is capped at 2 epochs = 20 samples; 880 left for two domains
    assert w["tiny"] == pytest.approx(20 / 900)
    assert w["mid"] == pytest.approx(440 / 900) and w["big"] == pytest.approx(440 / 900)
    assert max(epochs(w, sizes, 900).values()) <= 2 + 1e-9


@settings(max_examples=40, deadline=None)
@given(sizes=sizes_st, raw=st.lists(st.floats(0.01, 1), min_size=8, max_size=8),
       total=st.integers(1, 10**10), cap=st.floats(0.1, 10))
def test_cap_repetition_never_exceeds_the_cap(sizes, raw, total, cap):
    weights = {k: raw[i] for i, k in enumerate(sizes)}
    if sum(min(cap * n / total, 1.0) for n in sizes.values()) < 1:
        with pytest.raises(ValueError, match="max_epochs"):
            cap_repetition(weights, sizes, total, cap)
        return
    w = cap_repetition(weights, sizes, total, cap)
    assert math.isclose(sum(w.values()), 1.0, rel_tol=1e-9)
    for e in epochs(w, sizes, total).values():
        assert e <= cap * (1 + 1e-9)
    uncapped = [k for k in sizes if epochs(w, sizes, total)[k] < cap * (1 - 1e-9)]
    for a in uncapped:  # uncapped domains keep their relative ratios
        for b in uncapped:
            assert w[a] / w[b] == pytest.approx(weights[a] / weights[b], rel=1e-6)


def test_schedules_at_given_progress_points():
    a, b = {"x": 1.0, "y": 0.0}, {"x": 0.0, "y": 1.0}
    lin = LinearSchedule([(0.0, a), (1.0, b)])
    assert lin.weights_at(0.0) == {"x": 1.0, "y": 0.0}
    assert lin.weights_at(0.25) == pytest.approx({"x": 0.75, "y": 0.25})
    assert lin.weights_at(1.0) == {"x": 0.0, "y": 1.0}
    step = StepSchedule([(0.0, a), (0.5, b)])
    assert step.weights_at(0.49) == a and step.weights_at(0.5) == b and step.weights_at(1.0) == b
    sizes = {"big": 10_000, "small": 100}
    cool = Cooldown(sizes, start_temperature=4.0, end_temperature=1.0, start=0.5, end=0.9)
    assert cool.temperature_at(0.2) == 4.0 and cool.temperature_at(0.7) == pytest.approx(2.5)
    assert cool.temperature_at(1.0) == 1.0
    assert cool.weights_at(0.95) == pytest.approx(proportional(sizes))
    assert cool.weights_at(0.1)["small"] > cool.weights_at(0.8)["small"] > cool.weights_at(0.95)["small"]
    up = EndUpsample({"web": 0.9, "code": 0.1}, {"code": 5.0}, last_fraction=0.2)
    assert up.weights_at(0.79) == pytest.approx({"web": 0.9, "code": 0.1})
    assert up.weights_at(0.8) == pytest.approx({"web": 0.9 / 1.4, "code": 0.5 / 1.4})
    assert average_weights(up)["code"] == pytest.approx(0.8 * 0.1 + 0.2 * 0.5 / 1.4, rel=1e-3)
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="progress"):
            lin.weights_at(bad)
    with pytest.raises(ValueError, match="unknown domains"):
        EndUpsample({"web": 1.0}, {"math": 2.0})


def test_schedule_driver_sets_weights_at_step_boundaries_and_is_resume_safe():
    sizes = {"x": 50, "y": 50}
    sched = StepSchedule([(0.0, {"x": 0.5, "y": 0.5}), (0.5, {"x": 0.9, "y": 0.1})])

    def train(steps, sampler, driver, start=0):
        seen = []
        for step in range(start, steps):
            driver.step(step)
            seen.append(sampler.take(10).keys())
        return seen

    s = MixtureSampler(sizes, {"x": 1, "y": 1})
    d = ScheduleDriver(s, sched, total_steps=20)
    full = train(20, s, d)
    assert d.updates == 1  # only the change at step 10 (step 0 matches the initial weights)
    assert sum(k == "x" for k, _ in full[15]) == 9  # 0.9 of a 10-draw batch, exactly
    s1 = MixtureSampler(sizes, {"x": 1, "y": 1})
    d1 = ScheduleDriver(s1, sched, total_steps=20)
    head = train(13, s1, d1)
    s2 = MixtureSampler(sizes, {"x": 1, "y": 1})
    s2.load_state_dict(s1.state_dict())
    d2 = ScheduleDriver(s2, sched, total_steps=20)
    tail = train(20, s2, d2, start=13)
    assert d2.updates == 0 and head + tail == full
