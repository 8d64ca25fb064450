"""Two gloo processes on CPU: MixtureSampler takes rank and world size from the process group."""

from __future__ import annotations

import json
import os
import sys

import pytest
import torch.distributed as dist
import torch.multiprocessing as mp

from mixkit.domain import MixtureSampler

SIZES, WEIGHTS = {"a": 50, "b": 30}, {"a": 0.6, "b": 0.4}


def _worker(rank: int, world: int, init: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        s = MixtureSampler(SIZES, WEIGHTS, seed=2)  # no rank/world_size given
        with open(f"{out}.{rank}", "w") as fh:
            json.dump({"rank": s.rank, "world": s.world_size, "keys": s.take(20).keys()}, fh)
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available() or sys.platform == "win32", reason="torch.distributed")
def test_defaults_come_from_the_process_group(tmp_path):
    init = f"file://{tmp_path / 'rdv'}"
    out = str(tmp_path / "out")
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    mp.spawn(_worker, args=(2, init, out), nprocs=2, join=True)
    got = [json.loads(open(f"{out}.{r}").read()) for r in range(2)]
    for r in range(2):
        assert (got[r]["rank"], got[r]["world"]) == (r, 2)
        assert [tuple(k) for k in got[r]["keys"]] == \
            MixtureSampler(SIZES, WEIGHTS, seed=2, rank=r, world_size=2).take(20).keys()
    assert not {tuple(k) for k in got[0]["keys"]} & {tuple(k) for k in got[1]["keys"]}
