"""MixtureKeyStream and OnlineMixing without a training framework: exact resume under read-ahead, and the
signals handed to the online methods against plain per-domain oracles."""

import itertools

import pytest
import torch

from mixkit.domain import DGA, ODM, MixtureSampler, RnB
from mixkit.domain.online import OnlineMixer
from mixkit.integrations import DomainDataset, MixtureKeyStream, OnlineMixing, per_example_loss

SIZES = {"a": 13, "b": 7, "c": 29}


def new_stream(batch: int = 4, sequential=()) -> MixtureKeyStream:
    return MixtureKeyStream(MixtureSampler(SIZES, {"a": 1, "b": 1, "c": 1}, seed=3), batch, sequential)


def rule(step: int) -> dict[str, float]:
    """A deterministic weight change after every step."""
    return {"a": 1 + step % 3, "b": 0.5 + (step % 5) / 4, "c": 1.0}


def train(stream, steps, lookahead, start_step=0, save_at=None):
    """A loop whose loader reads ``lookahead`` batches ahead of the step it trains; weights change after
    every step. Returns the batches trained on and the state saved after ``save_at`` steps."""
    it = iter(stream)
    b = stream.batch_size
    queue = [list(itertools.islice(it, b)) for _ in range(lookahead + 1)]
    trained, saved = [], None
    for step in range(start_step, steps):
        trained.append(queue.pop(0))
        stream.set_weights(rule(step))
        if save_at is not None and step + 1 == save_at:
            saved = stream.state_dict(save_at)
        stream.mark_consumed(step + 1)
        queue.append(list(itertools.islice(it, b)))
    return trained, saved


@pytest.mark.parametrize("lookahead", [0, 1, 3])
def test_resume_under_read_ahead_replays_the_uninterrupted_stream(lookahead):
    full, saved = train(new_stream(), 20, lookahead, save_at=7)
    resumed = new_stream()
    resumed.load_state_dict(saved)
    rest, _ = train(resumed, 20, lookahead, start_step=7)
    assert rest == full[7:]
    assert sum(len(b) for b in full) == 80


def test_without_read_ahead_the_stream_is_the_sampler_driven_by_hand():
    oracle = MixtureSampler(SIZES, {"a": 1, "b": 1, "c": 1}, seed=3)
    expected = []
    for step in range(10):
        expected.append(oracle.take(4).keys())
        oracle.set_weights(rule(step))
    got, _ = train(new_stream(), 10, lookahead=0)
    assert got == expected


def test_weights_change_where_the_next_undrawn_batch_starts():
    s = new_stream()
    it = iter(s)
    first = [next(it) for _ in range(4)]
    s.set_weights({"a": 1, "b": 0, "c": 0})  # applies from batch 1: nothing else but "a"
    assert {d for d, _ in first} <= set(SIZES)
    assert {d for d, _ in itertools.islice(it, 8)} == {"a"}
    assert s.batches_drawn == 3


def test_sequential_domains_get_running_counts():
    s = new_stream(sequential=["b"])
    it = iter(s)
    keys = list(itertools.islice(it, 20))
    s.set_weights({"a": 1, "b": 3, "c": 1})  # counts carry over weight changes
    keys += list(itertools.islice(it, 40))
    b = [i for d, i in keys if d == "b"]
    assert b == list(range(len(b))) and len(b) > 5
    assert s.counts_at(s.batches_drawn)["b"] == len(b)


def test_state_dict_rejects_unknown_batches_and_bad_input():
    s = new_stream()
    with pytest.raises(ValueError, match="only 0 batches"):
        s.state_dict(1)
    with pytest.raises(ValueError, match="batch_size"):
        MixtureKeyStream(s.sampler, 0)
    with pytest.raises(TypeError, match="sampler"):
        MixtureKeyStream({"a": 1}, 4)
    with pytest.raises(ValueError, match="sequential"):
        MixtureKeyStream(s.sampler, 4, sequential=["zz"])
    with pytest.raises(TypeError, match="endless"):
        len(s)
    state = new_stream(batch=8).state_dict(0)
    with pytest.raises(ValueError, match="batch_size"):
        s.load_state_dict(state)


def test_domain_dataset_tags_items():
    data = DomainDataset({"a": [{"x": 1}], "b": [{"x": 2}]})
    assert data[("b", 0)] == {"x": 2, "domain_ids": 1}
    with pytest.raises(KeyError, match="unknown domain"):
        data[("z", 0)]
    with pytest.raises(TypeError, match="mappings"):
        DomainDataset({"a": [1], "b": [2]})[("a", 0)]


def test_per_example_loss_matches_a_loop():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 5, 7, generator=g)
    labels = torch.randint(0, 7, (3, 5), generator=g)
    labels[1, 2:] = -100
    got = per_example_loss(logits, labels)
    for b in range(3):
        terms = [
            torch.nn.functional.cross_entropy(logits[b, t], labels[b, t + 1])
            for t in range(4)
            if labels[b, t + 1] != -100
        ]
        assert torch.allclose(got[b], torch.stack(terms).mean(), atol=1e-6)
    assert torch.allclose(
        per_example_loss(logits[:, 0], labels[:, 0].clamp_min(0)),
        torch.nn.functional.cross_entropy(logits[:, 0], labels[:, 0].clamp_min(0), reduction="none"),
    )


class Recorder(OnlineMixer):
    """Records what it is given; moves weight to the domain with the largest loss."""

    def __init__(self, domains):
        super().__init__(domains)
        self.seen = []

    def update(self, step, losses_by_domain=None, grads_by_domain=None):
        self.seen.append((step, dict(losses_by_domain)))
        top = max(losses_by_domain, key=losses_by_domain.get)
        self._p = torch.tensor([2.0 if d == top else 1.0 for d in self.domains], dtype=torch.float64)
        self._p /= self._p.sum()
        return self.weights


def test_online_mixing_hands_the_mean_loss_of_each_domain_since_the_last_update():
    keys = new_stream()
    method = Recorder(list(SIZES))
    mixing = OnlineMixing(method, keys, every=2)
    g = torch.Generator().manual_seed(1)
    batches = [(torch.rand(4, generator=g), torch.randint(0, 3, (4,), generator=g)) for _ in range(4)]
    for step in range(4):
        mixing.observe(step, *batches[step])
        mixing.end_step(step)
    assert [s for s, _ in method.seen] == [1, 3]
    for (_, losses), pair in zip(method.seen, [batches[0:2], batches[2:4]]):
        vals = torch.cat([p[0] for p in pair]).double()
        ids = torch.cat([p[1] for p in pair])
        oracle = {d: float(vals[ids == k].mean()) for k, d in enumerate(SIZES) if (ids == k).any()}
        assert losses.keys() == oracle.keys()
        assert all(abs(losses[d] - oracle[d]) < 1e-12 for d in oracle)
    assert keys.weights == pytest.approx(method.weights, abs=1e-9)


def _tiny_problem():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    g = torch.Generator().manual_seed(2)
    x = torch.randn(12, 3, generator=g)
    y = torch.randint(0, 2, (12,), generator=g)
    ids = torch.arange(12) % 3
    return model, x, y, ids


def _oracle_grad(model, params, x, y, ids, k, reduce):
    loss = torch.nn.functional.cross_entropy(model(x[ids == k]), y[ids == k], reduction=reduce)
    return torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, params)])


def test_dga_gets_each_domains_mean_gradient():
    model, x, y, ids = _tiny_problem()
    params = list(model.parameters())
    method = DGA(list(SIZES), target="c", every=1, step_size=50.0)
    mixing = OnlineMixing(method, new_stream())
    losses = torch.nn.functional.cross_entropy(model(x), y, reduction="none")
    mixing.observe(0, losses, ids, model)
    got = mixing.end_step(0, model)
    oracle = DGA(list(SIZES), target="c", every=1, step_size=50.0)
    grads = {d: _oracle_grad(model, params, x, y, ids, k, "mean") for k, d in enumerate(SIZES)}
    want = oracle.update(0, grads_by_domain=grads)
    assert got == pytest.approx(want, abs=1e-9)
    assert max(abs(v - 1 / 3) for v in want.values()) > 1e-3  # the weights moved


def test_rnb_gets_summed_final_layer_gradients_and_counts():
    model, x, y, ids = _tiny_problem()
    head = model[2].weight
    method = RnB(list(SIZES), round_steps=1)
    mixing = OnlineMixing(method, new_stream(), final_layer=lambda m: m[2].weight)
    losses = torch.nn.functional.cross_entropy(model(x), y, reduction="none")
    mixing.observe(0, losses, ids, model)
    got = mixing.end_step(0, model)
    oracle = RnB(list(SIZES), round_steps=1)
    grads = {d: _oracle_grad(model, [head], x, y, ids, k, "sum") for k, d in enumerate(SIZES)}
    want = oracle.update(0, grads_by_domain=grads, counts_by_domain={d: 4.0 for d in SIZES})
    assert got == pytest.approx(want, abs=1e-9)
    assert max(abs(v - 1 / 3) for v in want.values()) > 1e-3


def test_online_mixing_state_round_trips_through_json():
    import json

    keys = new_stream()
    mixing = OnlineMixing(ODM(list(SIZES)), keys, every=2)
    it = iter(keys)
    g = torch.Generator().manual_seed(4)
    for step in range(3):
        list(itertools.islice(it, 4))
        mixing.observe(step, torch.rand(4, generator=g), torch.randint(0, 3, (4,), generator=g))
        mixing.end_step(step)
    state = json.loads(json.dumps(mixing.state_dict(3)))
    other = OnlineMixing(ODM(list(SIZES)), new_stream(), every=2)
    other.load_state_dict(state)
    assert other.method.state_dict() == mixing.method.state_dict()
    assert other._loss_sum.tolist() == mixing._loss_sum.tolist()
    assert list(itertools.islice(iter(other.keys), 8)) == list(itertools.islice(it, 8))
    with pytest.raises(ValueError, match="format"):
        other.load_state_dict({"format": "x"})
    with pytest.raises(ValueError, match="domains"):
        OnlineMixing(ODM(["c", "b", "a"]), new_stream())
    with pytest.raises(ValueError, match="eval_losses"):
        from mixkit.domain import Aioli

        OnlineMixing(Aioli(list(SIZES)), new_stream())


def test_aioli_probe_gets_held_out_losses_where_it_asks():
    from mixkit.domain import Aioli

    def heldout(step):
        return {d: 2.0 - 0.01 * step * (k + 1) for k, d in enumerate(SIZES)}

    kw = dict(round_steps=20, probe_rounds=1, probe_steps=2, seed=0)
    keys = new_stream()
    calls = []
    mixing = OnlineMixing(Aioli(list(SIZES), **kw), keys,
                          eval_losses=lambda model: calls.append(model) or heldout(len(calls)))
    mixing.start("model")
    for step in range(20):
        mixing.observe(step, torch.ones(4), torch.zeros(4, dtype=torch.long))
        mixing.end_step(step, "model")
    oracle, n = Aioli(list(SIZES), **kw), 0  # the loop the method documents
    if oracle.wants_signal(-1):
        n += 1
        oracle.update(-1, losses_by_domain=heldout(n))
    for step in range(20):
        if oracle.wants_signal(step):
            n += 1
            oracle.update(step, losses_by_domain=heldout(n))
    assert len(calls) == n > 3 and set(calls) == {"model"}
    assert keys.weights == pytest.approx(oracle.sampling_weights, abs=1e-9)
    assert len({tuple(w.values()) for _, w in mixing.history}) > 2  # probe mixtures drove the stream


def test_doremi_reweight_mode_trains_on_its_reweighted_loss():
    from mixkit.domain import DoReMi

    method = DoReMi(list(SIZES), reference_losses={"a": 0.5, "b": 0.5, "c": 0.5})
    mixing = OnlineMixing(method, new_stream())
    losses, ids = torch.tensor([1.0, 2.0, 3.0, 0.5]), torch.tensor([0, 1, 2, 2])
    mixing.observe(0, losses, ids)
    mixing.end_step(0)
    assert method.weights != pytest.approx({d: 1 / 3 for d in SIZES}, abs=1e-6)
    got = mixing.observe(1, losses, ids, loss=torch.tensor(9.0))
    assert torch.allclose(got, method.reweighted_loss(losses, ids))
    assert mixing.weights == pytest.approx(method.sampling_weights, abs=1e-9)  # sampling stays fixed
