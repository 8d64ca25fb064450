"""StreamingSource: a Hugging Face streaming dataset as an in-order domain, resumed exactly."""

import itertools
import json

import pytest
from integration_extras import requires

from mixkit.domain import MixtureSampler
from mixkit.integrations import DomainDataset, MixtureKeyStream, OnlineMixing, StreamingSource

pytestmark = requires("hf")


def stream(n=10, shards=2):
    import datasets

    return datasets.Dataset.from_dict({"x": list(range(n))}).to_iterable_dataset(num_shards=shards)


def test_reads_the_stream_in_order_across_passes():
    src = StreamingSource(stream(), size=10)
    assert [src[i]["x"] for i in range(25)] == [i % 10 for i in range(25)]
    assert src[3]["x"] == 3  # reading backward re-opens the stream


@pytest.mark.parametrize("exact_state", [True, False])
def test_resume_continues_with_the_next_item(exact_state):
    src = StreamingSource(stream(), size=10, exact_state=exact_state)
    for i in range(17):
        src[i]
    state = json.loads(json.dumps(src.state_at(13)))  # items 13.. were read ahead, not trained on
    assert (state["stream_state"] is not None) == exact_state
    again = StreamingSource(stream(), size=10, exact_state=exact_state)
    again.load_state(state)
    assert [again[i]["x"] for i in range(13, 24)] == [i % 10 for i in range(13, 24)]


def test_shuffled_stream_reshuffles_per_pass_and_resumes_by_skipping():
    shuffled = stream(12, shards=4).shuffle(seed=1, buffer_size=4)
    src = StreamingSource(shuffled, size=12, exact_state=False)
    seq = [src[i]["x"] for i in range(36)]
    assert sorted(seq[:12]) == list(range(12)) and seq[:12] != seq[12:24]
    again = StreamingSource(stream(12, shards=4).shuffle(seed=1, buffer_size=4), size=12, exact_state=False)
    again.load_state(src.state_at(20))
    assert [again[i]["x"] for i in range(20, 36)] == seq[20:]


def test_streamed_domain_in_the_mixture_resumes_with_the_stream():
    def build():
        data = DomainDataset(
            {"m": [{"x": 100 + i} for i in range(5)], "s": StreamingSource(stream(), size=10)}
        )
        keys = MixtureKeyStream(
            MixtureSampler(data.sizes, {"m": 1, "s": 2}, seed=0), 3, data.sequential_domains
        )
        return data, OnlineMixing(None, keys, dataset=data)

    data, mixing = build()
    it = iter(mixing.keys)
    items = [data[k]["x"] for k in itertools.islice(it, 30)]  # 10 batches drawn
    state = json.loads(json.dumps(mixing.state_dict(6)))  # 6 trained on
    assert state["streams"]["s"]["position"] == sum(1 for x in items[:18] if x < 100)
    data2, mixing2 = build()
    mixing2.load_state_dict(state)
    assert [data2[k]["x"] for k in itertools.islice(iter(mixing2.keys), 12)] == items[18:30]
    s_items = [x for x in items if x < 100]
    assert s_items == [i % 10 for i in range(len(s_items))]


def test_bad_input():
    with pytest.raises(ValueError, match="size"):
        StreamingSource(stream(), size=0)
    with pytest.raises(TypeError, match="re-iterable"):
        StreamingSource(iter([1, 2]), size=2)
    with pytest.raises(ValueError, match="position"):
        StreamingSource(stream(), size=10).load_state({"nope": 1})
