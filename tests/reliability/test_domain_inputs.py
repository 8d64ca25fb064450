"""Bad input to ``mixkit.domain`` (online methods and their state dicts, strategies, schedules, JSONL sources,
RegMix search): every case ends in a ``TypeError``/``ValueError`` naming the argument or field, or in a
correct result (finite weights summing to 1). No error from inside torch/NumPy/json, no NaN."""

from __future__ import annotations

import json
import math
import os
import time

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

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
    RnB,
    StepSchedule,
    average_weights,
    cap_repetition,
    epochs,
    jsonl_sources,
    proportional,
    strategy,
    temperature,
    uniform,
    unimax,
)
from optional_extras import needs

D = ["a", "b", "c"]
CLEAR = (ValueError, TypeError)


def _finite_weights(w: dict[str, float]) -> bool:
    return all(math.isfinite(v) and v >= 0 for v in w.values()) and abs(sum(w.values()) - 1) < 1e-9


def _method(cls):
    return cls(D, target="a") if cls is DGA else cls(D)


def _one_update(m) -> dict[str, float]:
    """One ordinary update with good signals (Aioli's probe estimator only needs its weights read)."""
    g = torch.Generator().manual_seed(0)
    if isinstance(m, DGA):
        return m.update(0, grads_by_domain={d: torch.randn(4, generator=g) for d in D})
    if isinstance(m, RnB):
        return m.update(m.round_steps - 1, grads_by_domain={d: torch.randn(4, generator=g) for d in D})
    if isinstance(m, Aioli):
        return m.weights
    return m.update(0, {"a": 1.0, "b": 2.0, "c": 0.5})


METHODS = [ODM, DoReMi, Aioli, DGA, RnB]
BAD_VALUES = [float("nan"), None, "x", [1.0], [float("nan")] * 3, [-1.0, 1.0, 1.0], {"a": 1}, -5, True,
              [float("inf")] * 3]


def _state_cases():
    for cls in METHODS:
        for field in _method(cls).state_dict():
            for value in BAD_VALUES:
                yield pytest.param(cls, field, value, id=f"{cls.__name__}-{field}-{value!r}"[:60])


@pytest.mark.parametrize(("cls", "field", "value"), list(_state_cases()))
def test_state_dict_field_is_refused_or_harmless(cls, field, value):
    """A corrupted state field raises an error naming a field, or (when the value is a legal one for that
    field) loading it still gives finite weights on the next update."""
    state = dict(_method(cls).state_dict())
    state[field] = value
    m = _method(cls)
    try:
        m.load_state_dict(state)
    except CLEAR as err:
        assert "state" in str(err) or field in str(err)
        return
    assert _finite_weights(m.weights)
    assert _finite_weights(_one_update(m))


@pytest.mark.parametrize("cls", METHODS)
@pytest.mark.parametrize("state", [None, [], "state", 3], ids=["none", "list", "str", "int"])
def test_state_of_the_wrong_type(cls, state):
    with pytest.raises(TypeError, match="state must be a mapping"):
        _method(cls).load_state_dict(state)


@pytest.mark.parametrize("cls", METHODS)
def test_state_of_another_method_or_domain_list(cls):
    other = ODM(D) if cls is not ODM else DoReMi(D)
    with pytest.raises(ValueError, match="state is for"):
        _method(cls).load_state_dict(other.state_dict())
    state = _method(cls).state_dict()
    state["domains"] = ["a", "b", "z"]
    with pytest.raises(ValueError, match="domains"):
        _method(cls).load_state_dict(state)
    state = _method(cls).state_dict()
    for field in list(state):
        if field not in ("method", "domains"):
            partial = dict(state)
            del partial[field]
            with pytest.raises(ValueError, match=field):
                _method(cls).load_state_dict(partial)


def test_state_round_trips_through_json():
    for cls in METHODS:
        m = _method(cls)
        _one_update(m)
        clone = _method(cls)
        clone.load_state_dict(json.loads(json.dumps(m.state_dict())))
        assert clone.weights == m.weights


def test_odm_eps_out_of_range_is_refused():
    state = ODM(D).state_dict()
    for eps in (-0.1, 0.5, 2.0):
        state["eps"] = eps
        with pytest.raises(ValueError, match="eps"):
            ODM(D).load_state_dict(state)


@pytest.mark.parametrize("cls", METHODS)
@pytest.mark.parametrize(("kwargs", "match"), [
    ({"domains": "abc"}, "domains"), ({"domains": ["a"]}, "domains"), ({"domains": ["a", "a"]}, "domains"),
    ({"domains": 5}, "domains"), ({"initial_weights": {"a": float("nan")}}, "weights"),
    ({"initial_weights": {"a": -1.0, "b": 2.0}}, "weights"), ({"initial_weights": {"a": 0.0}}, "weights"),
    ({"initial_weights": [1, 2, 3]}, "weights"), ({"initial_weights": {"a": "x"}}, "weights"),
    ({"initial_weights": {"z": 1.0}}, "unknown domains"),
])
def test_bad_constructor_arguments(cls, kwargs, match):
    args = {"domains": D, **({"target": "a"} if cls is DGA else {}), **kwargs}
    with pytest.raises(CLEAR, match=match):
        cls(**args)


@pytest.mark.parametrize("cls", [ODM, DoReMi, DGA, RnB, Aioli])
@pytest.mark.parametrize("step", ["0", 1.5, None, -2, True])
def test_bad_step(cls, step):
    with pytest.raises(ValueError, match="step must be an int"):
        _method(cls).update(step, {"a": 1.0}, {d: torch.ones(3) for d in D})


@pytest.mark.parametrize("cls", [ODM, DoReMi])
@pytest.mark.parametrize(("losses", "exc", "match"), [
    ({"a": float("nan")}, ValueError, "finite"), ({"a": float("inf")}, ValueError, "finite"),
    ({"a": "x"}, TypeError, "losses_by_domain"), ({"a": torch.ones(3)}, ValueError, "scalar"),
    ({"zz": 1.0}, ValueError, "unknown domains"), (None, ValueError, "losses_by_domain"),
])
def test_bad_losses(cls, losses, exc, match):
    m = ODM(D, warmup_steps=0) if cls is ODM else DoReMi(D)
    with pytest.raises(exc, match=match):
        m.update(0, losses)


@pytest.mark.parametrize(("args", "exc", "match"), [
    ((torch.tensor([[float("nan")]]), torch.zeros(1, 1), torch.tensor([0])), ValueError, "finite"),
    ((torch.full((2, 3), float("inf")), torch.zeros(2, 3), torch.tensor([0, 1])), ValueError, "finite"),
    ((torch.ones(2, 3), torch.zeros(2, 3), torch.tensor([0, 5])), ValueError, "domain_ids must lie"),
    ((torch.ones(2, 3), torch.zeros(2, 3), torch.tensor([0, -1])), ValueError, "domain_ids must lie"),
    ((torch.ones(2, 3), torch.zeros(2, 3), torch.tensor([0.0, 1.0])), TypeError, "domain_ids"),
    ((torch.ones(2, 3), torch.zeros(2, 3), torch.tensor([0, 1, 2])), ValueError,
     "domain_ids must have shape"),
    (([[1.0]], [[0.0]], [0]), TypeError, "token_losses must be a torch.Tensor"),
    ((torch.ones(2, 3, dtype=torch.long), torch.zeros(2, 3), torch.tensor([0, 1])), TypeError, "floating"),
    ((torch.ones(2, 3), torch.zeros(2, 4), torch.tensor([0, 1])), ValueError, "same shape|domain_ids"),
])
def test_doremi_bad_token_inputs(args, exc, match):
    with pytest.raises(exc, match=match):
        DoReMi(D).update_tokens(0, *args)


def test_doremi_bad_mask_and_reweighted_loss_ids():
    with pytest.raises(ValueError, match="mask"):
        DoReMi(D).update_tokens(0, torch.ones(2, 3), torch.zeros(2, 3), torch.tensor([0, 1]),
                                mask=torch.ones(5))
    with pytest.raises(ValueError, match="domain_ids must lie"):
        DoReMi(D).reweighted_loss(torch.ones(2, 3), torch.tensor([0, 5]))


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"step_size": True}, "step_size"), ({"step_size": "1"}, "step_size"), ({"step_size": 0}, "step_size"),
    ({"smoothing": 1.0}, "smoothing"), ({"vocab_size": 1}, "vocab_size"), ({"mode": "x"}, "mode"),
    ({"initial_score": float("inf")}, "initial_score"),
    ({"reference_losses": {"a": float("nan")}}, "reference"),
    ({"reference_losses": {"z": 1.0}}, "unknown domains"),
])
def test_doremi_bad_arguments(kwargs, match):
    with pytest.raises(CLEAR, match=match):
        DoReMi(D, **kwargs)


@pytest.mark.parametrize(("grads", "exc", "match"), [
    ({d: torch.full((4,), float("nan")) for d in D}, ValueError, "non-finite"),
    ({d: [1.0, 2.0] for d in D}, TypeError, "must be a torch.Tensor"),
    ({"a": torch.ones(3), "b": torch.ones(2), "c": torch.ones(2)}, ValueError, "same number of elements"),
    ({d: torch.ones(0) for d in D}, ValueError, "empty"),
    ({"a": torch.ones(3)}, ValueError, "lacks"),
    (None, ValueError, "grads_by_domain"),
])
def test_dga_bad_gradients(grads, exc, match):
    with pytest.raises(exc, match=match):
        DGA(D, target="a").update(0, grads_by_domain=grads)


def test_dga_integer_and_2d_gradients_are_used_as_is():
    w = DGA(D, target="a").update(0, grads_by_domain={d: torch.ones(2, 2, dtype=torch.long) for d in D})
    assert _finite_weights(w)


def test_rnb_bad_gradients_and_counts():
    with pytest.raises(ValueError, match="non-finite"):
        RnB(D, round_steps=1).update(0, grads_by_domain={d: torch.full((4,), float("nan")) for d in D})
    with pytest.raises(ValueError, match="counts_by_domain"):
        RnB(D).update(0, grads_by_domain={"a": torch.ones(3)}, counts_by_domain={"a": -1})
    with pytest.raises(ValueError, match="unknown domains"):
        RnB(D).update(0, grads_by_domain={"z": torch.ones(3)})


# ------------------------------------------------------------------ strategies
BAD_SIZES = [{}, {"a": -1}, {"a": 0}, {"a": 1.5}, {"a": float("nan")}, {"a": True}, [1, 2], None, {"a": "x"},
             {1: 3}]


@pytest.mark.parametrize("fn", [proportional, uniform, lambda s: temperature(s, 2.0)],
                         ids=["proportional", "uniform", "temperature"])
@pytest.mark.parametrize("sizes", BAD_SIZES, ids=[repr(s) for s in BAD_SIZES])
def test_bad_sizes(fn, sizes):
    with pytest.raises(CLEAR, match="sizes"):
        fn(sizes)


@pytest.mark.parametrize("t", [0, -1, float("nan"), float("inf"), "x", None, [1.0]])
def test_bad_temperature(t):
    with pytest.raises(ValueError, match="temperature"):
        temperature({"a": 10, "b": 20}, t)


@pytest.mark.parametrize("t", [1e-300, 1e-3, 1.0, 1e300])
def test_extreme_temperatures_give_finite_weights(t):
    w = temperature({"a": 10, "b": 10**18}, t)
    assert _finite_weights(w)


@pytest.mark.parametrize("total", [0, -5, float("nan"), 1.5, "x", None, True])
def test_bad_total(total):
    with pytest.raises(ValueError, match="total"):
        unimax({"a": 10, "b": 20}, total)
    with pytest.raises(ValueError, match="total"):
        epochs({"a": 0.5, "b": 0.5}, {"a": 10, "b": 20}, total)
    with pytest.raises(ValueError, match="total"):
        cap_repetition({"a": 0.5, "b": 0.5}, {"a": 10, "b": 20}, total, 2.0)


@pytest.mark.parametrize("max_epochs", [0, -1, float("nan"), "x", None, True, {"a": "x"}, {"z": 1.0}])
def test_bad_max_epochs(max_epochs):
    with pytest.raises(ValueError, match="max_epochs"):
        cap_repetition({"a": 0.5, "b": 0.5}, {"a": 10, "b": 20}, 20, max_epochs)


def test_caps_that_cannot_cover_total_are_refused():
    with pytest.raises(ValueError, match="max_epochs"):
        unimax({"a": 10, "b": 20}, 10**30)


@pytest.mark.parametrize(("name", "kwargs", "match"), [
    ("bogus", {}, "strategy must be one of"), (None, {}, "strategy must be one of"),
    ("temperature", {}, "needs a temperature"), ("unimax", {}, "needs total"),
    ("uniform", {"max_epochs": 2.0}, "needs total"),
])
def test_bad_strategy(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        strategy(name, {"a": 10, "b": 20}, **kwargs)


@settings(max_examples=60, deadline=None)
@given(sizes=st.dictionaries(st.sampled_from("abcdef"), st.integers(1, 10**15), min_size=1),
       t=st.floats(1e-6, 1e6), total=st.integers(1, 10**9))
def test_strategies_always_give_probability_vectors(sizes, t, total):
    assert _finite_weights(proportional(sizes))
    assert _finite_weights(temperature(sizes, t))
    try:
        w = unimax(sizes, total, max_epochs=4.0)
    except ValueError as err:
        assert "max_epochs" in str(err)
    else:
        assert _finite_weights(w)
        for k, v in w.items():  # no domain repeated more than max_epochs times
            assert v * total <= 4.0 * sizes[k] * (1 + 1e-9) + 1e-9


# ------------------------------------------------------------------ schedules
@pytest.mark.parametrize("progress", [-0.1, 1.1, float("nan"), "x", None, float("inf")])
def test_bad_progress(progress):
    for schedule in (Constant({"a": 1, "b": 1}), LinearSchedule([(0.0, {"a": 1}), (1.0, {"b": 1})]),
                     StepSchedule([(0.0, {"a": 1}), (0.5, {"b": 1})]), Cooldown({"a": 1, "b": 2})):
        with pytest.raises(ValueError, match="progress"):
            schedule.weights_at(progress)


@pytest.mark.parametrize(("build", "exc", "match"), [
    (lambda: Constant({"a": float("nan"), "b": 1}), ValueError, "weights"),
    (lambda: Constant({}), ValueError, "weights"),
    (lambda: Constant([1, 2]), TypeError, "weights must be a mapping"),
    (lambda: LinearSchedule([]), ValueError, "points"),
    (lambda: LinearSchedule([(0.5, {"a": 1}), (0.5, {"b": 1})]), ValueError, "distinct progress"),
    (lambda: LinearSchedule([(float("nan"), {"a": 1})]), ValueError, "progress"),
    (lambda: LinearSchedule([(0.0, {"a": 1}), (2.0, {"a": 1})]), ValueError, "progress"),
    (lambda: LinearSchedule([(0.0,)]), ValueError, "points"),
    (lambda: LinearSchedule([5]), ValueError, "points"),
    (lambda: LinearSchedule({"a": 1}), ValueError, "points"),
    (lambda: StepSchedule([(0.0, [1, 2])]), ValueError, "points"),
    (lambda: Cooldown({"a": 1, "b": 2}, start_temperature=-1), ValueError, "temperature"),
    (lambda: Cooldown({"a": 1, "b": 2}, start=0.9, end=0.1), ValueError, "start"),
    (lambda: EndUpsample({"a": 1, "b": 1}, {"a": -2}), ValueError, "factors"),
    (lambda: EndUpsample({"a": 1, "b": 1}, {"a": float("nan")}), ValueError, "factors"),
    (lambda: EndUpsample({"a": 1, "b": 1}, {"a": float("inf")}), ValueError, "factors"),
    (lambda: EndUpsample({"a": 1, "b": 1}, {"a": "2"}), ValueError, "factors"),
    (lambda: EndUpsample({"a": 1, "b": 1}, [2.0]), TypeError, "factors"),
    (lambda: EndUpsample({"a": 1, "b": 1}, {"z": 2.0}), ValueError, "unknown domains"),
    (lambda: EndUpsample({"a": 1, "b": 1}, {"a": 2.0}, last_fraction=0), ValueError, "last_fraction"),
    (lambda: average_weights(Constant({"a": 1, "b": 1}), 0), ValueError, "steps"),
    (lambda: average_weights(Constant({"a": 1, "b": 1}), -1), ValueError, "steps"),
    (lambda: average_weights(Constant({"a": 1, "b": 1}), 2.5), ValueError, "steps"),
    (lambda: average_weights({"a": 1}, 10), TypeError, "schedule"),
])
def test_bad_schedules(build, exc, match):
    with pytest.raises(exc, match=match):
        build()


def test_end_upsample_with_a_huge_factor_is_finite():
    w = EndUpsample({"a": 1, "b": 1}, {"a": 1e308, "b": 1e308}, last_fraction=0.5).weights_at(0.99)
    assert w == {"a": 0.5, "b": 0.5}
    w = EndUpsample({"a": 1, "b": 1}, {"a": 1e308}, last_fraction=0.5).weights_at(0.99)
    assert _finite_weights(w) and w["a"] > 0.999


def test_unsorted_points_are_sorted():
    s = StepSchedule([(0.5, {"a": 1}), (0.0, {"b": 1})])
    assert s.weights_at(0.3) == {"a": 0.0, "b": 1.0}


# ------------------------------------------------------------------ JSONL sources
@pytest.fixture
def jsonl(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"x": 1}\n\n{"x": 2}\n{"x": 3}\n')
    return path


@pytest.mark.parametrize(("index", "exc"), [("a", TypeError), (1.5, TypeError), (True, TypeError),
                                             (None, TypeError), (10, IndexError), (-4, IndexError)])
def test_jsonl_bad_index(jsonl, index, exc):
    with pytest.raises(exc, match="index"):
        JsonlSource(jsonl)[index]


def test_jsonl_good_indices(jsonl):
    src = JsonlSource(jsonl)
    assert len(src) == 3 and src[-1] == {"x": 3} and src[torch.tensor(1)] == {"x": 2}


def test_jsonl_bad_paths_and_transform(tmp_path, jsonl):
    with pytest.raises(TypeError, match="path"):
        JsonlSource(None)
    with pytest.raises(FileNotFoundError, match="not a regular file"):
        JsonlSource(tmp_path)
    with pytest.raises(FileNotFoundError, match="not found"):
        JsonlSource(tmp_path / "missing.jsonl")
    with pytest.raises(TypeError, match="transform"):
        JsonlSource(jsonl, transform=5)
    with pytest.raises(TypeError, match="paths must be a mapping"):
        jsonl_sources([str(jsonl)])


@pytest.mark.parametrize("content", [b'{"x": 1}\nnot json\n', b'{"x": 1}\n\xff\xfe\n', b'{"x": 1}\n{"x": \n'])
def test_jsonl_bad_line_names_file_and_record(tmp_path, content):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"bad\.jsonl', record 1 .*not valid JSON"):
        JsonlSource(path)[1]


@pytest.mark.parametrize("how", ["same-size", "longer", "replaced"])
def test_jsonl_rewritten_after_indexing_is_detected(jsonl, how):
    src = JsonlSource(jsonl)
    assert src[1] == {"x": 2}
    time.sleep(0.01)
    if how == "same-size":
        jsonl.write_text('{"x": 7}\n\n{"y": 2}\n{"x": 3}\n')
    elif how == "longer":
        jsonl.write_text('{"x": 100000}\n{"y": 2}\n{"x": 3}\n')
    else:
        other = jsonl.with_suffix(".tmp")
        other.write_text('{"x": 1}\n\n{"x": 2}\n{"x": 3}\n')
        os.replace(other, jsonl)
    with pytest.raises(RuntimeError, match="modified after it was indexed"):
        src[1]


# ------------------------------------------------------------------ RegMix search
SIZES = {"a": 1000, "b": 2000, "c": 3000}


@needs("search")
@pytest.mark.parametrize(("kwargs", "exc", "match"), [
    ({"sizes": {"a": 10}}, ValueError, "sizes"), ({"sizes": ["a", "b"]}, ValueError, "sizes"),
    ({"total_tokens": 0}, ValueError, "total_tokens"),
    ({"total_tokens": float("nan")}, ValueError, "total_tokens"),
    ({"total_tokens": "x"}, TypeError, "total_tokens"), ({"total_tokens": None}, TypeError, "total_tokens"),
    ({"max_epochs": -1}, ValueError, "max_epochs"), ({"max_epochs": "x"}, TypeError, "max_epochs"),
    ({"temperature": float("nan")}, ValueError, "temperature"),
    ({"temperature": "x"}, TypeError, "temperature"),
    ({"n_members": 0}, ValueError, "n_members"), ({"regressor": "x"}, ValueError, "regressor"),
    ({"proposal": "x"}, ValueError, "proposal"), ({"seed": 1.5}, TypeError, "seed"),
    ({"proposal_options": {"zz": 1}}, TypeError, "proposal_options"),
    ({"proposal_options": [1]}, TypeError, "proposal_options"),
    ({"regressor_options": {"zz": 1}}, TypeError, "regressor_options"),
])
def test_regmix_bad_arguments(kwargs, exc, match):
    from mixkit.domain import RegMixSearch

    args = {"sizes": SIZES, "total_tokens": 1000, **kwargs}
    with pytest.raises(exc, match=match):
        RegMixSearch(**args)


@needs("search")
def test_regmix_bad_results_and_state():
    from mixkit.domain import RegMixSearch

    rs = RegMixSearch(SIZES, 1000)
    for mixture, metric, exc, match in [
        ({"a": 1.0}, float("nan"), ValueError, "metric"), ({"a": 1.0}, "x", TypeError, "metric"),
        ({"a": -1.0, "b": 2.0}, 1.0, ValueError, "mixture"),
        ({"a": float("nan")}, 1.0, ValueError, "mixture"),
        ({"zz": 1.0}, 1.0, ValueError, "unknown domains"), ([1.0], 1.0, TypeError, "mixture"),
    ]:
        with pytest.raises(exc, match=match):
            rs.add(mixture, metric)
    with pytest.raises(ValueError, match="at least"):
        rs.fit()
    with pytest.raises(RuntimeError, match="fit"):
        rs.best(100)
    with pytest.raises(TypeError, match="state"):
        rs.load_state_dict(None)
    state = rs.state_dict()
    for field in state:
        for value in (None, "x", float("nan"), [[float("nan")] * 3], -1):
            bad = dict(state)
            bad[field] = value
            try:
                RegMixSearch(SIZES, 1000).load_state_dict(bad)
            except CLEAR:
                continue
            # accepted only when the value is legal for the field (e.g. fitted=-1 is truthy, no results)
            assert field in ("fitted", "eval_x", "eval_y") or value in ([],), (field, value)
