"""Hidden units are exchangeable: which indices a GHN may shift while training, and what the
shifts change (every index vector trained) and do not change (predictions, determinism)."""

import pytest
import torch
from torch import nn

from hypernetworks.graph import (
    GraphHyperNetwork,
    LowRankDecoder,
    MLPSpec,
    Node,
    calibrate_batchnorm,
    evaluate_architecture,
    trace,
    unit_roles,
)
from hypernetworks.graph._benchmarks import _summary
from hypernetworks.graph._rescale import rescale


def test_roles_free_hidden_units_and_keep_inputs_and_classes():
    net = nn.Sequential(
        nn.Flatten(),
        nn.Linear(6, 8),
        nn.LayerNorm(8),
        nn.ReLU(),
        nn.Linear(8, 5),
        nn.BatchNorm1d(5),
        nn.Tanh(),
        nn.Linear(5, 3),
    )
    assert unit_roles(trace(net)) == {
        "1.weight": (True, False),  # its columns read the input (pixels keep their index)
        "1.bias": (True, False),
        "2.weight": (True, False),  # LayerNorm of hidden units
        "2.bias": (True, False),
        "4.weight": (True, True),
        "4.bias": (True, False),
        "5.weight": (True, False),
        "5.bias": (True, False),
        "7.weight": (False, True),  # its rows are the classes
        "7.bias": (False, False),
    }


def test_networks_with_convolutions_are_never_shifted():
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    assert unit_roles(trace(net)) is None


def test_a_shift_reads_the_index_vectors_further_along_the_table():
    torch.manual_seed(0)
    dec = LowRankDecoder(8, rank=4, table=16)
    h = torch.randn(2, 8)
    nodes = [Node("linear.weight", "w", (5, 7)), Node("linear.bias", "b", (5,))]
    shifted = dec(h, nodes, [(3, 2, 0, 0), (3, 0, 0, 0)])
    with torch.no_grad():  # the same tables rolled by the shifts give the same tensors
        for table, shift in ((dec.row_index, 3), (dec.col_index, 2), (dec.vec_index, 3)):
            table.weight.copy_(table.weight.roll(-shift, 0))
    rolled = dec(h, nodes)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(shifted, rolled, strict=True))
    wrapped = dec(
        h, [Node("linear.bias", "b", (5,))], [(14, 0, 0, 0)]
    )  # 14..18 wrap to 14, 15, 0..2
    assert wrapped[0].shape == (5,)


def _fit(unit_shifts):
    gen = torch.Generator().manual_seed(0)
    x, y = torch.rand(64, 6, generator=gen), torch.randint(0, 3, (64,), generator=gen)
    pool = [MLPSpec((6,), 3, (8,), "relu"), MLPSpec((6,), 3, (4, 8), "gelu", "layernorm")]
    torch.manual_seed(0)
    ghn = GraphHyperNetwork(dim=8, hidden=8, rank=2, unit_shifts=unit_shifts)
    before = ghn.decoder.lowrank.row_index.weight.detach().clone()
    ghn.fit(pool, (x, y), steps=6, seed=0, lr=1e-2)
    moved = (ghn.decoder.lowrank.row_index.weight - before).abs().amax(1) > 1e-5
    return ghn, int(moved.sum())


def test_shifts_train_index_vectors_past_the_widths_of_the_pool():
    _, without = _fit(False)
    ghn, with_shifts = _fit(True)
    assert without <= 8  # only the indices of units 0..7 (and classes 0..2) are ever read
    assert with_shifts > 40  # 6 steps x 2 architectures x up to 8 units, anywhere in 1,024
    assert ghn.config["unit_shifts"] is True
    again, _ = _fit(True)
    wide = MLPSpec((6,), 3, (1024,), "relu")()  # prediction: deterministic, shift 0
    first, second = ghn.predict(wide), again.predict(wide)
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_units_past_the_trained_range_fold_onto_trained_ones():
    gen = torch.Generator().manual_seed(0)
    x, y = torch.rand(64, 6, generator=gen), torch.randint(0, 3, (64,), generator=gen)
    torch.manual_seed(0)
    ghn = GraphHyperNetwork(dim=8, hidden=8, rank=2)
    ghn.fit([MLPSpec((6,), 3, (8,), "relu"), MLPSpec((6,), 3, (4, 8), "gelu")], (x, y), steps=2)
    assert ghn.config["unit_range"] == 8 and ghn.config["fold_units"] is True
    wide = ghn.predict(MLPSpec((6,), 3, (20,), "relu")())
    w, b, out = wide["1.weight"], wide["1.bias"], wide["3.weight"]
    rows = [torch.allclose(w[i], w[i % 8]) for i in range(20)]  # unit i is unit i mod 8
    assert all(rows) and torch.allclose(b[8:16], b[:8]) and torch.allclose(out[:, 16:], out[:, :4])
    ghn.config["fold_units"] = False
    unfolded = ghn.predict(MLPSpec((6,), 3, (20,), "relu")())["1.weight"]
    assert not torch.allclose(unfolded[8:16], unfolded[:8], atol=1e-3)  # untrained vectors


def test_blend_mixes_predicted_weights_with_the_models_own_initialisation():
    ghn = GraphHyperNetwork(dim=8)
    torch.manual_seed(0)
    model = MLPSpec((6,), 3, (16,), "relu", "layernorm")()
    own = {k: v.detach().clone() for k, v in model.named_parameters()}
    predicted = ghn.predict(model)
    torch.manual_seed(0)  # the same initialisation again
    half = ghn.apply(MLPSpec((6,), 3, (16,), "relu", "layernorm")(), blend=0.5)
    for name, p in half.named_parameters():
        # weights halfway, vectors (biases, LayerNorm) as predicted
        expected = 0.5 * own[name] + 0.5 * predicted[name] if p.dim() == 2 else predicted[name]
        assert torch.allclose(p, expected, atol=1e-6), name
    plain = ghn.apply(MLPSpec((6,), 3, (16,), "relu", "layernorm")())
    assert all(torch.equal(p, predicted[k]) for k, p in plain.named_parameters())


def test_blend_outside_zero_one_is_refused():
    ghn, model = GraphHyperNetwork(dim=8), nn.Sequential(nn.Linear(3, 2))
    with pytest.raises(ValueError, match=r"blend must be in \[0, 1\], got 1.5"):
        ghn.apply(model, blend=1.5)
    with pytest.raises(TypeError, match="blend must be a float in \\[0, 1\\], got str"):
        ghn.apply(model, blend="half")


def test_rescale_keeps_the_function_and_brings_weights_to_the_initial_scale():
    torch.manual_seed(0)
    ghn = GraphHyperNetwork(dim=8)
    net = nn.Sequential(
        nn.Flatten(),
        nn.Linear(6, 16),
        nn.LayerNorm(16),
        nn.GELU(),
        nn.Linear(16, 16),
        nn.ReLU(),
        nn.Dropout(0.1),
        nn.Linear(16, 8),
        nn.GELU(),  # not homogeneous, no normalisation: keeps its predicted scale
        nn.Linear(8, 3),
    )
    initial = {k: v.detach().clone() for k, v in net.named_parameters()}
    with torch.no_grad():  # a prediction far larger than the initialisation
        predicted = {k: 9 * v if v.dim() == 2 else v for k, v in ghn.predict(net).items()}
    rescaled = rescale(trace(net), predicted, initial)
    x = torch.randn(32, 6)
    net.eval()
    same = torch.func.functional_call(net, predicted, (x,))
    # the same function up to LayerNorm's eps (not scale-free), relative to the outputs' scale
    error = (torch.func.functional_call(net, rescaled, (x,)) - same).abs().max()
    assert error <= 1e-4 * same.abs().max()

    def rms(t):
        return float(t.pow(2).mean().sqrt())

    for name in ("1.weight", "4.weight"):  # before LayerNorm; before ReLU (7.weight pays)
        assert abs(rms(rescaled[name]) / rms(initial[name]) - 1) < 1e-5
    paid = rescaled["7.weight"] / predicted["7.weight"]  # one factor, that of 4.weight
    assert torch.allclose(paid, paid.mean().expand_as(paid), rtol=1e-4) and paid.mean() > 1
    assert torch.equal(rescaled["9.weight"], predicted["9.weight"])


def test_apply_with_rescale_leaves_convolutions_and_zero_shot_accuracy_alone():
    torch.manual_seed(0)
    ghn = GraphHyperNetwork(dim=8)
    spec = MLPSpec((6,), 3, (16, 8), "relu", "batchnorm")
    torch.manual_seed(1)
    plain = ghn.apply(spec())
    torch.manual_seed(1)
    scaled = ghn.apply(spec(), rescale=True)
    x = torch.randn(64, 6)
    calibrate_batchnorm(plain, x), calibrate_batchnorm(scaled, x)
    assert torch.allclose(plain(x), scaled(x), atol=1e-3)  # BatchNorm eps only
    conv = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
    before = ghn.predict(conv)["0.weight"]
    assert torch.equal(ghn.apply(conv, rescale=True)[0].weight.detach(), before)


def test_benchmark_rows_fine_tune_the_extra_starts_with_the_same_batches():
    gen = torch.Generator().manual_seed(0)
    x, y = torch.rand(200, 6, generator=gen), torch.randint(0, 3, (200,), generator=gen)
    spec, ghn = MLPSpec((6,), 3, (8,), "relu", "layernorm"), GraphHyperNetwork(dim=8)
    reference = {"trained_accuracy": 0.5}
    row = evaluate_architecture(
        ghn,
        spec,
        (x, y),
        (x, y),
        scratch_steps=100,
        seed=0,
        reference=reference,
        blend=0.5,
        rescale=True,
    )
    curves = row["finetune"]
    assert sorted(curves) == ["blended", "predicted", "random", "rescaled"]
    assert curves["rescaled"]["0"] == curves["predicted"]["0"]  # same function at step 0
    means = _summary([{"split": "held_out", **row}])
    assert set(means["held_out"]) >= {"rescaled_beats_random_at_100", "blended_beats_random_at_10"}
