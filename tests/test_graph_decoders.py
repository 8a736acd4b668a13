"""The three decoders side by side: shapes for unseen widths and kernels, the hybrid's
routing, deterministic training, save/load."""

import pytest
import torch
from torch import nn

from hypernetworks.graph import (
    CNNSpec,
    GraphHyperNetwork,
    HybridDecoder,
    LowRankDecoder,
    MLPSpec,
    Node,
    TilingDecoder,
)

DECODERS = ["lowrank", "tiling", "hybrid"]
SHAPE = (1, 8, 8)


def _pool():
    return [
        MLPSpec(SHAPE, 3, (16,), "relu"),
        MLPSpec(SHAPE, 3, (32, 16), "gelu", "layernorm"),
        CNNSpec(SHAPE, 3, (8,), (3,), ("max",), (False,), True),
        CNNSpec(SHAPE, 3, (8, 16), (3, 5), ("max", "none"), (False, True), True),
    ]


def _data():
    gen = torch.Generator().manual_seed(0)
    return torch.rand(96, *SHAPE, generator=gen), torch.randint(0, 3, (96,), generator=gen)


@pytest.mark.parametrize("decoder", DECODERS)
def test_unseen_widths_and_kernels_get_their_shapes(decoder):
    ghn = GraphHyperNetwork(dim=16, decoder=decoder)
    unseen = [  # a 7×7 and a 1×1 kernel, 96 channels, a 700-wide layer: none in any pool
        CNNSpec(SHAPE, 10, (96, 12), (7, 1), ("max", "none"), (False, False), True)(),
        MLPSpec(SHAPE, 10, (700, 3), "tanh", "batchnorm")(),
        nn.Sequential(nn.Conv1d(2, 5, 9), nn.ReLU(), nn.Flatten(), nn.Linear(5 * 4, 2)),
    ]
    for model in unseen:
        predicted = ghn.predict(model)
        assert {n: t.shape for n, t in predicted.items()} == {
            n: p.shape for n, p in model.named_parameters()
        }
        assert all(torch.isfinite(t).all() for t in predicted.values())


def test_hybrid_tiles_convolutions_and_factorises_the_rest():
    torch.manual_seed(0)
    hybrid = HybridDecoder(16, rank=4)
    assert isinstance(hybrid.tiling, TilingDecoder) and isinstance(hybrid.lowrank, LowRankDecoder)
    assert hybrid.tiling.vectors is None  # vectors go to the low-rank part
    nodes = [
        Node("conv.weight", "c.weight", (40, 3, 3, 3)),
        Node("conv.bias", "c.bias", (40,)),
        Node("linear.weight", "l.weight", (10, 40)),
        Node("linear.bias", "l.bias", (10,)),
    ]
    h = torch.randn(4, 16)
    out = hybrid(h, nodes)
    assert [tuple(t.shape) for t in out] == [n.shape for n in nodes]
    # the same tensors as its parts give for their own nodes
    assert torch.equal(out[0], hybrid.tiling(h[[0]], nodes[:1])[0])
    low = hybrid.lowrank(h[[1, 2, 3]], nodes[1:])
    assert all(torch.equal(a, b) for a, b in zip(out[1:], low, strict=True))
    # tiling: 40 output channels repeat the 32-channel block; low-rank: rank ≤ 4, no repeat
    assert torch.allclose(out[0][32:40], out[0][:8])
    assert int(torch.linalg.matrix_rank(out[2])) <= 4
    with pytest.raises(ValueError, match=r"weights only \(vectors=False\), got c.bias"):
        hybrid.tiling(h[[1]], nodes[1:2])


@pytest.mark.parametrize("decoder", DECODERS)
def test_training_is_deterministic_and_save_load_reproduces_it(decoder, tmp_path):
    x, y = _data()
    runs = []
    for _ in range(2):
        torch.manual_seed(5)
        ghn = GraphHyperNetwork(dim=16, decoder=decoder, rank=4)
        ghn.fit(_pool(), (x, y), steps=6, architectures_per_step=2, batch_size=32, seed=1)
        runs.append(ghn)
    assert runs[0].history_ == runs[1].history_
    unseen = CNNSpec(SHAPE, 3, (12, 24), (5, 3), ("avg", "none"), (False, True), True)()
    a, b = runs[0].predict(unseen), runs[1].predict(unseen)
    assert all(torch.equal(a[k], b[k]) for k in a)
    runs[0].save(tmp_path / "ghn.pt")
    loaded = GraphHyperNetwork.load(tmp_path / "ghn.pt")
    assert loaded.config["decoder"] == decoder
    c = loaded.predict(unseen)
    assert all(torch.equal(a[k], c[k]) for k in a)


def test_every_hybrid_part_learns():
    """After training on MLPs and CNNs both parts of the hybrid have moved."""
    x, y = _data()
    torch.manual_seed(0)
    ghn = GraphHyperNetwork(dim=16, decoder="hybrid", rank=4)
    before = {k: v.clone() for k, v in ghn.decoder.state_dict().items()}
    ghn.fit(_pool(), (x, y), steps=8, architectures_per_step=4, batch_size=32, seed=0)
    after = ghn.decoder.state_dict()
    for prefix in ("tiling.weights", "lowrank.row_out", "lowrank.vec_out"):
        keys = [k for k in after if k.startswith(prefix)]
        assert keys and any(not torch.equal(before[k], after[k]) for k in keys), prefix
