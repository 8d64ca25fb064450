"""The whole story: per-source datasets, 2 ranks x 2 DataLoader workers, kill, resume, and check from the
sampler's own counters that proportions and coverage held."""

from __future__ import annotations

import json
from collections import Counter

from domain_fakes import Tagged
from torch.utils.data import DataLoader

from mixkit.domain import MixtureDataset, MixtureEpochSampler, MixtureSampler


def test_ranks_workers_kill_resume_and_verify_from_counters(tmp_path):
    data = {"web": Tagged(0, 64), "code": Tagged(1, 16), "de": Tagged(2, 8)}
    names = list(data)
    sizes = {k: len(v) for k, v in data.items()}
    weights = {"web": 0.5, "code": 0.25, "de": 0.25}
    world, batch, steps_before, steps_after = 2, 8, 5, 7

    def loader(rank, state=None):
        sampler = MixtureEpochSampler(MixtureSampler(sizes, weights, seed=11, rank=rank, world_size=world))
        if state is not None:
            sampler.load_state_dict(state)
        return sampler, DataLoader(MixtureDataset(data), batch_size=batch, sampler=sampler, num_workers=2)

    seen = {r: [] for r in range(world)}
    for r in range(world):  # first job: runs steps_before steps, checkpoints, is killed
        sampler, dl = loader(r)
        for step, b in enumerate(dl):
            seen[r] += [(names[int(x[0])], int(x[1])) for x in b]
            if step + 1 == steps_before:
                state = sampler.state_dict(consumed=(step + 1) * batch)  # the loader has read ahead
                (tmp_path / f"rank{r}.json").write_text(json.dumps(state))
                break
        del dl
    for r in range(world):  # second job: resumes from the checkpoints
        state = json.loads((tmp_path / f"rank{r}.json").read_text())
        sampler, dl = loader(r, state)
        for step, b in enumerate(dl):
            seen[r] += [(names[int(x[0])], int(x[1])) for x in b]
            if step + 1 == steps_after:
                break
        del dl
    # the resumed loaders read ahead too: rebuild each rank's sampler at the consumed point for the counters
    consumed = (steps_before + steps_after) * batch
    checks = []
    for r in range(world):
        probe = MixtureSampler(sizes, weights, seed=11, rank=r, world_size=world)
        probe.load_state_dict(json.loads((tmp_path / f"rank{r}.json").read_text()))
        probe.take(steps_after * batch)
        checks.append(probe.summary())
    n = world * consumed
    # 1. the ranks agree on the global counters, which match what was actually read
    assert checks[0]["counts"] == checks[1]["counts"] == dict(Counter(d for r in seen for d, _ in seen[r]))
    assert checks[0]["position"] == n
    # 2. proportions held exactly: every domain within 1 of n * weight
    assert checks[0]["discrepancy"] < 1
    for k, w in weights.items():
        assert abs(checks[0]["counts"][k] - n * w) < 1
    # 3. coverage: after e full epochs plus r draws of a domain, r items were read e + 1 times and the
    #    others exactly e times: no item skipped, none repeated early, across ranks, workers and the restart
    for k, size in sizes.items():
        reads = Counter(i for r in seen for d, i in seen[r] if d == k)
        e, rest = divmod(checks[0]["counts"][k], size)
        assert e == int(checks[0]["epochs"][k])
        times = Counter(reads.get(i, 0) for i in range(size))
        assert times == Counter({e + 1: rest, e: size - rest}) - Counter({0: 0})
    # 4. each rank's own counters match its share
    for r in range(world):
        assert checks[r]["rank_counts"] == {k: sum(d == k for d, _ in seen[r]) for k in sizes}

