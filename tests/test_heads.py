"""Output heads: shapes, parameter budgets, low-rank structure, and gradient flow."""

import pytest
import torch
from torch import nn

from hypernetworks import MIP, Chunked, Full, LayerWise, LowRank, TaskEmbedding, hypernetize

from .helpers import perturb
from .targets import TARGETS

HEADS = {
    "full": "full",
    "chunked": Chunked(chunk_size=32, embedding_dim=8),
    "layerwise": LayerWise(embedding_dim=8),
    "lowrank": LowRank(rank=2),
}
IDS = torch.tensor([0, 1, 2, 3])


def _trainable(module: nn.Module) -> dict:
    return {n: p for n, p in module.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("mip", [True, False], ids=["mip", "plain"])
@pytest.mark.parametrize("head", sorted(HEADS))
@pytest.mark.parametrize("target", ["conv2d_groups", "lstm", "nested", "raw_parameter"])
def test_every_parameter_gets_a_gradient_after_one_step(target, head, mip):
    make_target, make_input = TARGETS[target]
    model = hypernetize(make_target(), TaskEmbedding(4, 8), head=HEADS[head], mip=mip)
    x = make_input(len(IDS))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(2):  # after a step, zero-initialised output layers have moved
        optimizer.zero_grad()
        model(x, IDS).pow(2).mean().backward()
        if _ == 0:
            optimizer.step()
    # Task embeddings of the ids used get a gradient; every other trainable tensor does too.
    for name, p in _trainable(model).items():
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, name
    # Under the plain formulation the target's generated tensors are frozen (unused).
    frozen = {n for n, p in model.target.named_parameters() if not p.requires_grad}
    assert frozen == (set() if mip else set(model.generated))


@pytest.mark.parametrize("head", sorted(HEADS))
def test_generated_shapes_match_the_target(head):
    target = TARGETS["conv2d_groups"][0]()
    model = perturb(hypernetize(target, TaskEmbedding(4, 8), head=HEADS[head]))
    one, batch = model.generate(1), model.generate(IDS)
    for name, p in target.named_parameters():
        assert one[name].shape == p.shape
        assert batch[name].shape == (len(IDS), *p.shape)
        torch.testing.assert_close(batch[name][1], one[name])


def _head_size(model) -> int:
    return sum(p.numel() for p in model.head.parameters())


def test_compact_heads_are_smaller_than_the_target():
    target = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.Linear(256, 10))
    size = sum(p.numel() for p in target.parameters())
    full = hypernetize(target, 8, head=Full())
    chunked = hypernetize(target, 8, head=Chunked(chunk_size=256, embedding_dim=16, hidden=32))
    lowrank = hypernetize(target, 8, head=LowRank(rank=4))
    assert _head_size(full) == 64 * size  # H x P, no bias under MIP
    assert _head_size(chunked) < size / 5
    # LowRank emits rank*(m+n) numbers per matrix instead of m*n: far fewer outputs than
    # Full (here 4,914 vs 85,002), though at H=64 not fewer parameters than the target.
    assert _head_size(lowrank) < _head_size(full) / 15


def test_layerwise_shares_one_generator_per_shape():
    net = nn.Sequential(*[nn.Linear(16, 16) for _ in range(5)], nn.Linear(16, 3))
    model = hypernetize(net, 4, head=LayerWise(embedding_dim=8))
    # shapes: (16,16) x5, (16,) x5, (3,16), (3,) -> 4 generators
    assert len(model.head.generators) == 4
    deep = hypernetize(
        nn.Sequential(*[nn.Linear(16, 16) for _ in range(10)]), 4, head=LayerWise(embedding_dim=8)
    )
    shallow = hypernetize(
        nn.Sequential(*[nn.Linear(16, 16) for _ in range(2)]), 4, head=LayerWise(embedding_dim=8)
    )
    # Extra equal layers cost only their embeddings.
    assert _head_size(deep) - _head_size(shallow) == 2 * 8 * 8


def test_lowrank_deltas_have_the_requested_rank():
    conv = nn.Conv2d(6, 12, 3)
    model = perturb(hypernetize(conv, 4, head=LowRank(rank=2)), scale=0.5)
    c = torch.randn(4)
    delta = model.generate(c)["weight"] - model.target.weight
    assert torch.linalg.matrix_rank(delta.reshape(12, -1)).item() == 2
    plain = perturb(hypernetize(conv, 4, head=LowRank(rank=3), mip=False), scale=0.5)
    assert torch.linalg.matrix_rank(plain.generate(c)["weight"].reshape(12, -1)).item() == 3


def test_chunked_covers_a_size_that_is_not_a_multiple_of_the_chunk():
    target = nn.Linear(7, 5)  # 40 numbers
    model = perturb(hypernetize(target, 3, head=Chunked(chunk_size=16, embedding_dim=4)))
    assert model.head.generator.embeddings.shape[0] == 3
    w = model.generate(torch.randn(3))
    assert w["weight"].shape == (5, 7) and w["bias"].shape == (5,)


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda: Chunked(0, 8), ValueError, "chunk_size must be a positive int, got 0"),
        (lambda: Chunked(16.0, 8), TypeError, "chunk_size must be a positive int, got 16.0"),
        (lambda: LayerWise(True), TypeError, "embedding_dim must be a positive int, got True"),
        (lambda: LowRank(-1), ValueError, "rank must be a positive int, got -1"),
        (
            lambda: hypernetize(nn.Linear(2, 2), 3, head="chunked"),
            ValueError,
            "head must be 'full' or a head object .* got 'chunked'",
        ),
        (
            lambda: hypernetize(nn.Linear(2, 2), 3, head=nn.Linear(2, 2)),
            TypeError,
            "head must be 'full' or a hypernetworks.Head, got Linear",
        ),
        (
            lambda: hypernetize(nn.Linear(2, 2), 3, hidden=64),
            TypeError,
            r"hidden must be a tuple of layer widths, e.g. \(64, 64\), got 64",
        ),
        (
            lambda: hypernetize(nn.Linear(2, 2), 3, hidden=(64, 0)),
            ValueError,
            "each hidden width must be a positive int, got 0",
        ),
        (
            lambda: hypernetize(nn.Linear(2, 2), 3, mip="yes"),
            TypeError,
            "`mip` must be a bool or a hypernetworks.MIP, got 'yes'",
        ),
        (lambda: MIP(encoding=1), TypeError, "MIP `encoding` must be a bool, got 1"),
    ],
)
def test_bad_head_and_body_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_empty_hidden_means_no_body():
    model = hypernetize(nn.Linear(3, 2), 5, hidden=())
    assert len(model.body) == 0
    assert model.head.out.in_features == 5


@pytest.mark.parametrize("head", sorted(HEADS))
def test_generation_without_autograd_matches_and_leaves_theta0_alone(head):
    """Without autograd θ₀ is added in place into the head's output buffer; values must
    match the autograd path, and θ₀ itself must never change."""
    target = TARGETS["nested"][0]()
    model = perturb(hypernetize(target, TaskEmbedding(4, 8), head=HEADS[head]))
    theta0 = {n: p.detach().clone() for n, p in model.target.named_parameters()}
    with torch.no_grad():
        fast = model.generate(2)
        fast_batch = model.generate(IDS)
    tracked = model.generate(2)
    for name in model.generated:
        torch.testing.assert_close(fast[name], tracked[name])
        torch.testing.assert_close(fast_batch[name][2], tracked[name])
    for name, p in model.target.named_parameters():
        assert torch.equal(p, theta0[name]), name
