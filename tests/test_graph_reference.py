"""The graph benchmark's converged from-scratch reference, and the CNN encodings
(pooling level, global pooling, kernel-position features)."""

import pytest
import torch
from torch import nn

from hypernetworks.graph import (
    OPS,
    CNNSpec,
    GraphHyperNetwork,
    LowRankDecoder,
    MLPSpec,
    Node,
    encode,
    evaluate_architecture,
    trace,
    train_reference,
)
from hypernetworks.graph._decoders import _kernel_features


def _blobs(n, seed):
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=gen)
    x = torch.randn(n, 4, generator=gen)
    x[:, 0] += 3 * (2 * y - 1)
    return x, y


def test_reference_stops_when_validation_accuracy_stops_improving():
    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    train, test = _blobs(400, 0), _blobs(200, 1)
    ref = train_reference(model, train, test, max_steps=2000, seed=0, every=10, patience=3)
    # an easy problem: solved early, then 3 checks without a better validation accuracy
    assert ref["trained_stopped_at"] == ref["trained_steps"] + 30 < 2000
    assert not ref["trained_capped"]
    assert ref["trained_accuracy"] > 0.9 and ref["trained_validation_accuracy"] > 0.9
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # a copy
    again = train_reference(model, train, test, max_steps=2000, seed=0, every=10, patience=3)
    assert again == ref


def test_reference_reports_a_cap_reached_while_improving():
    torch.manual_seed(0)
    x, y = _blobs(400, 0)
    ref = train_reference(nn.Linear(4, 2), (x, y), (x, y), max_steps=3, seed=0, every=1)
    assert ref["trained_stopped_at"] == 3
    assert ref["trained_capped"] == (ref["trained_steps"] > 0)


def test_reference_refuses_bad_arguments():
    x, y = _blobs(40, 0)
    with pytest.raises(ValueError, match="max_steps must be a positive int, got 0"):
        train_reference(nn.Linear(4, 2), (x, y), (x, y), max_steps=0, seed=0)
    with pytest.raises(TypeError, match=r"patience must be a positive int, got 1.5 \(float\)"):
        train_reference(nn.Linear(4, 2), (x, y), (x, y), max_steps=5, seed=0, patience=1.5)
    with pytest.raises(ValueError, match="at least 8 samples .* got 5"):
        train_reference(nn.Linear(4, 2), (x[:5], y[:5]), (x, y), max_steps=5, seed=0)


def test_evaluate_architecture_reuses_a_given_reference():
    x, y = _blobs(300, 0)
    spec = MLPSpec((4,), 2, (8,))
    ghn = GraphHyperNetwork(dim=8)
    fresh = evaluate_architecture(ghn, spec, (x, y), (x, y), scratch_steps=60, seed=3)
    assert 0 < fresh["trained_steps"] <= fresh["trained_stopped_at"] <= 60
    given = {"trained_accuracy": 0.5, "trained_steps": 7, "architecture": "ignored"}
    row = evaluate_architecture(
        ghn, spec, (x, y), (x, y), scratch_steps=60, seed=3, reference=given
    )
    assert row["trained_accuracy"] == 0.5 and row["trained_steps"] == 7
    assert row["architecture"] == spec.name
    assert row["zero_shot_ratio"] == pytest.approx(row["zero_shot_accuracy"] / 0.5)
    assert row["finetune"] == fresh["finetune"]  # the curves do not depend on the reference


def test_resolution_features_count_pools_and_mark_global_pooling():
    spec = CNNSpec((1, 16, 16), 10, (4, 4, 4), (3, 3, 3), ("max", "avg", "none"), (False,) * 3)
    graph = trace(spec())
    plain, rich = encode(graph), encode(graph, resolution=True)
    assert plain.shapes.shape[1] + 2 == rich.shapes.shape[1]
    assert torch.equal(plain.shapes, rich.shapes[:, :-2])
    ops = [n.op for n in graph.nodes]
    level, pooled = rich.shapes[:, -2] * 3, rich.shapes[:, -1]
    convs = [i for i, op in enumerate(ops) if op == "conv.weight"]
    assert [round(float(level[i])) for i in convs] == [0, 1, 2]  # 16×16, 8×8, 4×4
    g = ops.index("globalpool")
    assert pooled[:g].sum() == 0 and bool(pooled[g:].all())
    # without the option, global pooling is read as average pooling (the former encoding)
    assert int(plain.ops[g]) == OPS.index("avgpool") and int(rich.ops[g]) == OPS.index("globalpool")


def test_rich_kernel_features_align_kernel_sizes():
    def corner(size):
        offsets = torch.tensor([[-(size - 1) / 2, (size - 1) / 2]])
        return _kernel_features(offsets, (size, size))[0]

    three, five = corner(3), corner(5)
    assert torch.equal(three[2:7], five[2:7])  # relative offsets, squares, product agree
    assert not torch.equal(three[:2], five[:2]) and not torch.equal(three[7:], five[7:])
    dec = LowRankDecoder(8, rich_kernel=True)
    nodes = [Node("conv.weight", "w", (6, 3, 5, 5)), Node("linear.weight", "v", (4, 6))]
    assert [tuple(t.shape) for t in dec(torch.randn(2, 8), nodes)] == [(6, 3, 5, 5), (4, 6)]


def test_ghn_with_cnn_encodings_trains_and_reloads(tmp_path):
    ghn = GraphHyperNetwork(dim=8, resolution=True, rich_kernel=True)
    spec = CNNSpec((1, 8, 8), 10, (4, 4), (3, 5), ("max", "none"), (False, True), True)
    x, y = torch.rand(32, 1, 8, 8), torch.randint(0, 10, (32,))
    ghn.fit([spec], (x, y), steps=2, batch_size=16)
    ghn.save(tmp_path / "g.pt")
    loaded = GraphHyperNetwork.load(tmp_path / "g.pt")
    assert loaded.config["resolution"] and loaded.config["rich_kernel"]
    model = spec()
    a, b = ghn.predict(model), loaded.predict(model)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_reference_rows_resume_from_known_rows():
    from hypernetworks.graph import reference_rows

    kwargs = dict(architectures=4, held_out_count=3, scratch_steps=20, kinds=("mlp",))
    full = reference_rows("digits", seed=0, **kwargs)
    assert [r["seed"] for r in full] == list(range(len(full)))
    assert all(r["max_steps"] == 20 for r in full)
    marked = [{**r, "trained_accuracy": -1.0} for r in full[:2]]  # "already trained" rows
    stale = {**full[2], "max_steps": 10}  # another cap: not reused
    seen = []
    resumed = reference_rows("digits", seed=0, known=[*marked, stale], on_row=seen.append, **kwargs)
    assert resumed[:2] == marked and resumed[2:] == full[2:]
    assert seen == resumed
