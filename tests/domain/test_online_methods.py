"""Online domain-mixing methods: hand-computed steps, direction of movement, validation, resumability."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mixkit.domain.online import DGA, ODM, Aioli, DoReMi, RnB
from mixkit.domain.online.aioli import fit_window_law, mixing_law_scores

AB = ["a", "b"]


def softmax2(x, y):
    ex, ey = math.exp(x), math.exp(y)
    return ex / (ex + ey), ey / (ex + ey)


def test_doremi_hand_step():
    m = DoReMi(AB, reference_losses={"a": 1.0, "b": 1.0}, step_size=1.0, smoothing=0.1)
    w = m.update(0, losses_by_domain={"a": 2.0, "b": 0.5})  # excess [1, 0] (b clipped at 0)
    pa, pb = softmax2(math.log(0.5) + 1.0, math.log(0.5) + 0.0)
    assert w["a"] == pytest.approx(0.9 * pa + 0.05, abs=1e-12)
    assert w["b"] == pytest.approx(0.9 * pb + 0.05, abs=1e-12)
    # the release's average includes the initial weights (its update counter starts at 1)
    assert m.average_weights["a"] == pytest.approx((0.5 + w["a"]) / 2)


def test_doremi_absent_domain_keeps_its_last_score():
    # changed with the release's rule: an absent domain keeps its last score (initially log V), not 0
    m = DoReMi(["a", "b", "c"], step_size=1.0, smoothing=0.0, initial_score=0.0)
    w = m.update(0, losses_by_domain={"a": 1.0})
    e = math.e
    assert w["a"] == pytest.approx(e / (e + 2))
    assert w["b"] == pytest.approx(1 / (e + 2)) and w["c"] == pytest.approx(w["b"])
    m.update(1, losses_by_domain={"b": 0.5})
    assert m.scores == {"a": 1.0, "b": 0.5, "c": 0.0}
    assert DoReMi(["a", "b"]).scores["a"] == pytest.approx(math.log(256))


def test_doremi_reweight_mode_keeps_sampling_fixed():
    m = DoReMi(AB, initial_weights={"a": 0.25, "b": 0.75})
    m.update(0, losses_by_domain={"a": 9.0, "b": 0.0})
    assert m.sampling_weights == {"a": 0.25, "b": 0.75} and m.weights["a"] > 0.9
    r = DoReMi(AB, mode="resample")
    r.update(0, losses_by_domain={"a": 9.0, "b": 0.0})
    assert r.sampling_weights == r.weights and float(r.loss_weights().sum()) == 2.0


def test_odm_hand_step():
    # changed with the release's smoothed-mean rule: EMA of exp(loss), linear normalisation
    m = ODM(AB, smoothing=0.9, warmup_steps=1)
    assert not m.wants_signal(0) and m.wants_signal(1)
    w = m.update(1, losses_by_domain={"a": 2.0, "b": 1.0})  # iteration t = 2
    ra, rb = 0.1 * math.exp(2.0), 0.1 * math.exp(1.0)
    eps = min(0.5, math.sqrt(math.log(2) / 4))
    assert w["a"] == pytest.approx((1 - 2 * eps) * ra / (ra + rb) + eps, abs=1e-12)


def test_dga_hand_step():
    m = DGA(AB, target="t", step_size=1.0, ema=0.5, every=1, similarity="cosine")
    grads = {"a": torch.tensor([2.0, 0.0]), "b": torch.tensor([0.0, 3.0]), "t": torch.tensor([1.0, 0.0])}
    w = m.update(0, grads_by_domain=grads)  # cosines [1, 0]
    pa, _ = softmax2(math.log(0.5) + 1.0, math.log(0.5))
    assert w["a"] == pytest.approx(0.5 * 0.5 + 0.5 * pa, abs=1e-12)
    # the paper's inner product (default) scales with the gradient norms
    d = DGA(AB, target="t", step_size=0.1)
    w = d.update(0, grads_by_domain=grads)  # dots [2, 0]
    assert w["a"] == pytest.approx(softmax2(0.2, 0.0)[0], abs=1e-12)


def test_rnb_hand_step():
    # changed with the paper's rule: p = softmax(lambda * G p_eval / ||G p_eval||) at the end of each round
    m = RnB(AB, temperature=3.0, round_steps=2)
    m.update(0, grads_by_domain={"a": torch.tensor([2.0, 0.0])}, counts_by_domain={"a": 2})
    assert m.weights == {"a": 0.5, "b": 0.5}  # mid-round: unchanged
    w = m.update(1, grads_by_domain={"b": torch.tensor([1.0, 1.0])})
    # mean gradients a = [1, 0], b = [1, 1]: G = [[1, 1], [1, 2]], v = G [.5, .5] = [1, 1.5]
    n = math.sqrt(1 + 1.5**2)
    assert w["a"] == pytest.approx(softmax2(3 * 1 / n, 3 * 1.5 / n)[0], abs=1e-12)


def test_aioli_law_scores_and_update():
    a = torch.tensor([[2.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    s = mixing_law_scores(a)  # column sums [3, 1] / 3
    assert torch.allclose(s, torch.tensor([1.0, 1 / 3], dtype=torch.float64))
    assert torch.equal(
        mixing_law_scores(torch.zeros(2, 2, dtype=torch.float64)), torch.zeros(2, dtype=torch.float64)
    )


def test_aioli_window_fit_recovers_linear_law():
    g = torch.Generator().manual_seed(0)
    a_true = torch.tensor([[0.02, 0.005, 0.0], [0.0, 0.03, 0.01], [0.004, 0.0, 0.01]], dtype=torch.float64)
    w = torch.softmax(torch.randn(60, 3, generator=g, dtype=torch.float64), dim=1)
    cum = torch.cumsum(w, dim=0) - w
    losses = torch.tensor([3.0, 4.0, 2.0], dtype=torch.float64) - cum @ a_true.T
    seen = torch.ones(60, 3, dtype=torch.bool)
    seen[::3, 1] = False
    a_hat = fit_window_law(cum, losses, seen, ridge=0.0)
    assert torch.allclose(a_hat, a_true, atol=1e-8)


def _simulate(method, steps, rates, floors, start, signal="losses"):
    """A synthetic trainer: training with weight p_i lowers domain i's loss by
    rate_i * p_i * (L_i - floor_i)."""
    loss = torch.tensor(start, dtype=torch.float64)
    rates = torch.tensor(rates, dtype=torch.float64)
    floors = torch.tensor(floors, dtype=torch.float64)
    names = method.domains
    if method.wants_signal(-1):
        method.update(-1, losses_by_domain=dict(zip(names, loss.tolist())))
    for step in range(steps):
        p = torch.tensor([method.weights[n] for n in names], dtype=torch.float64)
        observed = dict(zip(names, loss.tolist()))
        loss = loss - rates * p * (loss - floors)
        if method.wants_signal(step):
            method.update(
                step, losses_by_domain=observed if signal == "losses" else dict(zip(names, loss.tolist()))
            )
    return method.weights


@pytest.mark.parametrize(
    "make,margin",
    [
        (lambda n: DoReMi(n, reference_losses={d: 1.0 for d in n}, step_size=0.1), 0.1),
        (lambda n: ODM(n), 0.05),  # the smoothed mean of exp(loss) follows the loss as it falls
        (
            lambda n: ODM(n, rule="exp3"),
            0.02,
        ),  # EXP3 moves slowly: eps_t * reward, eps_t ~ sqrt(ln K / (K t))
        (lambda n: Aioli(n, estimator="window", window=30, update_every=10, window_step_size=0.3), 0.2),
        (lambda n: Aioli(n, round_steps=60, probe_rounds=1, probe_steps=4, step_size=5.0), 0.2),
    ],
    ids=["doremi", "odm", "odm-exp3", "aioli-window", "aioli-probe"],
)
def test_loss_methods_move_toward_artificially_high_loss(make, margin):
    names = ["easy1", "hard", "easy2"]
    method = make(names)
    signal = "eval" if method.needs == "eval_losses" else "losses"
    # "hard" starts with an artificially high loss (8 vs 2); all domains learn at the same rate toward 1
    w = _simulate(
        method, 180, rates=[0.02, 0.02, 0.02], floors=[1.0, 1.0, 1.0], start=[2.0, 8.0, 2.0], signal=signal
    )
    w = getattr(method, "law_weights", w)  # Aioli: the law's proportions, not the probe mixture in use
    assert w["hard"] > 1 / 3 + margin, w
    assert max(w, key=w.get) == "hard"


@pytest.mark.parametrize(
    "make",
    [
        lambda n: DGA(n, target="hard", every=1, step_size=1.0),
        lambda n: RnB(n, round_steps=1),
    ],
    ids=["dga", "rnb"],
)
def test_grad_methods_move_toward_high_loss_domain(make):
    names = ["easy1", "hard", "easy2"]
    method = make(names)
    g = torch.Generator().manual_seed(1)
    for step in range(30):
        base = torch.randn(3, 8, generator=g)
        # the high-loss domain has the largest gradient; the easy ones are small and partly conflicting
        grads = {"easy1": 0.2 * base[0], "hard": 3.0 * base[1] + 1.0, "easy2": 0.2 * base[2]}
        if method.wants_signal(step):
            method.update(step, grads_by_domain=grads)
    w = method.weights
    assert max(w, key=w.get) == "hard" and w["hard"] > 0.5, w


def test_aioli_probe_estimates_linear_law_and_reports_overhead():
    names = ["a", "b", "c"]
    m = Aioli(
        names, round_steps=60, probe_rounds=2, probe_steps=3, one_hot_factor=0.8, ema=None, normalize=False
    )
    a_true = torch.tensor([[0.02, 0.0, 0.01], [0.0, 0.01, 0.0], [0.005, 0.0, 0.03]], dtype=torch.float64)
    loss = torch.tensor([5.0, 5.0, 5.0], dtype=torch.float64)
    m.update(-1, losses_by_domain=dict(zip(names, loss.tolist())))
    for step in range(60):
        q = torch.tensor([m.weights[n] for n in names], dtype=torch.float64)
        loss = loss - a_true @ q
        if m.wants_signal(step):
            m.update(step, losses_by_domain=dict(zip(names, loss.tolist())))
    # the release does not divide by the segment length: A is the loss decrease per 3-step segment
    assert m.last_a is not None and torch.allclose(m.last_a, 3 * a_true, atol=1e-9)
    assert m.probe_steps_used == 2 * 3 * 3  # 2 sweeps x 3 domains x 3 steps


def test_aioli_window_uses_no_probe_steps_and_perturbs_near_p():
    m = Aioli(["a", "b", "c"], estimator="window", perturbation=0.1)
    for step in range(40):
        m.update(step, losses_by_domain={"a": 1.0, "b": 2.0})
        cur = torch.tensor(list(m.weights.values()))
        law = torch.tensor(list(m.law_weights.values()))
        assert (cur / law).log().abs().max() < 1.0
    assert m.probe_steps_used == 0 and m.eval_calls == 0


ALL = [
    lambda n: DoReMi(n, reference_losses={d: 0.5 for d in n}),
    lambda n: ODM(n),
    lambda n: Aioli(n, estimator="window", window=10, update_every=5),
    lambda n: DGA(n, target=n[0], every=1),
    lambda n: RnB(n, round_steps=3),
]


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), cut=st.integers(1, 25), which=st.integers(0, len(ALL) - 1))
def test_state_dict_resumes_identically(seed, cut, which):
    names = ["x", "y", "z"]
    g = torch.Generator().manual_seed(seed)
    signals = [
        (
            {n: float(v) for n, v in zip(names, torch.rand(3, generator=g) * 5)},
            {n: torch.randn(4, generator=g) for n in names},
        )
        for _ in range(30)
    ]

    def feed(m, sig, step):
        losses, grads = sig
        if m.needs == "grads":
            return m.update(step, grads_by_domain=grads)
        return m.update(step, losses_by_domain=losses)

    a = ALL[which](names)
    for s in range(cut):
        feed(a, signals[s], s)
    b = ALL[which](names)
    b.load_state_dict(a.state_dict())
    for s in range(cut, 30):
        wa, wb = feed(a, signals[s], s), feed(b, signals[s], s)
        assert wa == wb
        assert abs(sum(wa.values()) - 1) < 1e-9 and min(wa.values()) > 0


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="at least 2"):
        DoReMi(["a"])
    with pytest.raises(ValueError, match="unique"):
        ODM(["a", "a"])
    with pytest.raises(ValueError, match="step_size"):
        DoReMi(AB, step_size=-1)
    with pytest.raises(ValueError, match="unknown domains"):
        ODM(AB).update(0, losses_by_domain={"zzz": 1.0})
    with pytest.raises(ValueError, match="finite"):
        ODM(AB).update(0, losses_by_domain={"a": float("nan")})
    with pytest.raises(ValueError, match="needs losses_by_domain"):
        DoReMi(AB).update(0)
    with pytest.raises(ValueError, match="lacks"):
        DGA(AB, target="t").update(0, grads_by_domain={"a": torch.ones(2), "b": torch.ones(2)})
    with pytest.raises(ValueError, match="non-finite"):
        RnB(AB, round_steps=1).update(
            0, grads_by_domain={"a": torch.tensor([float("nan"), 1.0]), "b": torch.ones(2)}
        )
    with pytest.raises(ValueError, match="estimator"):
        Aioli(AB, estimator="magic")
    with pytest.raises(ValueError, match="not DoReMi"):
        DoReMi(AB).load_state_dict(ODM(AB).state_dict())
