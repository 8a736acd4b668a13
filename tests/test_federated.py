"""The federated recipe: methods, the in-process engine, partitions, errors."""

import pytest
import torch
from torch import nn

from hypernetworks.datasets import (
    client_datasets,
    load_digits,
    partition_dirichlet,
    partition_pathological,
)
from hypernetworks.federated import METHODS, Info, PFedHN, simulate


def _mlp():
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


@pytest.fixture(scope="module")
def digits_clients():
    x, y = load_digits()
    clients = client_datasets(x, y, partition_pathological(y, 12, seed=0), seed=0)
    return clients[:10], clients[10:]


@pytest.fixture(scope="module")
def disagreeing():
    """Four clients on digits 0 and 1; clients 2 and 3 swap the two labels."""
    x, y = load_digits()
    keep = y < 2
    x, y = x[keep], y[keep]
    clients = client_datasets(x, y, list(torch.arange(len(y)).chunk(4)), seed=0)
    return [
        (a, 1 - b, c, 1 - d) if i >= 2 else (a, b, c, d) for i, (a, b, c, d) in enumerate(clients)
    ]


def test_pfedhn_beats_fedavg_when_clients_disagree_on_labels(disagreeing):
    pfedhn = simulate(disagreeing, _mlp(), method="pfedhn", rounds=15, seed=0)
    fedavg = simulate(disagreeing, _mlp(), method="fedavg", rounds=15, seed=0)
    assert pfedhn.mean_client_accuracy > 0.95
    assert fedavg.mean_client_accuracy < 0.75  # one model cannot serve both labellings
    assert pfedhn.mean_client_accuracy > fedavg.mean_client_accuracy + 0.2


def test_new_client_gets_a_model_without_training(digits_clients):
    train, new = digits_clients
    result = simulate(
        train,
        _mlp(),
        method="pefll",
        rounds=20,
        seed=0,
        new_clients=new,
        clients_per_round=5,
        eval_every=20,
    )
    assert result.new_client_accuracies is not None and len(result.new_client_accuracies) == 2
    assert (
        result.new_client_accuracy is not None and result.new_client_accuracy > 0.6
    )  # chance: 0.5
    assert result._states.get(10, {}) == {}  # the new client never trained anything
    model = result.materialize(10)
    with torch.no_grad():
        acc = float((model(new[0][2]).argmax(-1) == new[0][3]).double().mean())
    assert acc == pytest.approx(result.new_client_accuracies[0])


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_runs_and_materializes_what_it_scored(method, digits_clients):
    train, new = digits_clients
    result = simulate(
        train[:4],
        _mlp(),
        method=method,
        rounds=2,
        seed=1,
        new_clients=new[:1],
        local_steps=5,
        clients_per_round=1,  # clients 0-3 are not all sampled: untrained ones must work too
        finetune_steps=0,
    )
    assert len(result.client_accuracies) == 4 and len(result.history) == 2
    assert (result.new_client_accuracy is not None) == METHODS[method].serves_new_clients
    for i in range(4):
        model = result.materialize(i)
        assert isinstance(model, nn.Sequential)
        with torch.no_grad():
            acc = float((model(train[i][2]).argmax(-1) == train[i][3]).double().mean())
        assert acc == pytest.approx(result.client_accuracies[i])


def test_same_seed_same_result_and_global_rng_untouched(digits_clients):
    train, _ = digits_clients
    net = _mlp()
    state = torch.random.get_rng_state()
    a = simulate(train[:3], net, method="pefll", rounds=2, seed=3, local_steps=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    b = simulate(train[:3], net, method="pefll", rounds=2, seed=3, local_steps=3)
    assert a.client_accuracies == b.client_accuracies


def test_server_generates_all_sampled_clients_in_one_call():
    method = PFedHN(_mlp(), num_clients=6)
    calls = []
    original = method.hnet.generate
    method.hnet.generate = lambda c: calls.append(c) or original(c)  # type: ignore[method-assign]
    payloads = method.configure("train", [0, 2, 5], Info(1, -1))
    assert len(calls) == 1 and calls[0].tolist() == [0, 2, 5]
    assert sorted(payloads) == [0, 2, 5]


def test_round_one_gives_every_client_theta0_then_personalizes(disagreeing):
    """MIP's residual starts at Δθ = 0: round 1 sends every client the same weights."""
    method = PFedHN(_mlp(), num_clients=4)
    first = method.configure("train", [0, 1, 2, 3], Info(1, -1))
    assert all(torch.equal(first[0][n], first[i][n]) for i in range(4) for n in first[0])
    replies = {
        i: method.handle("train", first[i], {}, disagreeing[i], Info(1, i))[0] for i in range(4)
    }
    method.aggregate("train", replies, Info(1, -1))
    second = method.configure("evaluate", [0, 2], Info(1, -1))
    assert not torch.allclose(second[0]["2.weight"], second[2]["2.weight"])


def test_private_parts_never_leave_the_client(digits_clients):
    train, _ = digits_clients
    for name, private in (
        ("pfedhn-pc", {"2.weight", "2.bias"}),
        ("hyperfl", {"embedding", "target.2.weight", "target.2.bias"}),
    ):
        method = METHODS[name](_mlp(), 2)
        payload = method.configure("train", [0], Info(1, -1))[0]
        reply, state = method.handle("train", payload, {}, train[0], Info(1, 0))
        assert set(state) == private
        assert not private & set(reply) and not private & set(payload)


def test_partitions():
    y = torch.arange(1000) % 10
    parts = partition_pathological(y, 20, seed=1)
    assert all(len(torch.unique(y[p])) == 2 for p in parts)
    assert len(torch.unique(torch.cat(parts))) == sum(len(p) for p in parts)
    counts = torch.stack(
        [torch.bincount(y[p], minlength=10) for p in partition_dirichlet(y, 10, alpha=0.1)]
    )
    assert counts.sum() == 1000 and (counts > 0).sum(1).float().mean() < 6  # strong label skew
    spread = torch.stack(
        [torch.bincount(y[p], minlength=10) for p in partition_dirichlet(y, 10, alpha=100.0)]
    )
    assert (spread > 0).all()
    with pytest.raises(
        ValueError, match=r"classes_per_client must be between 1 and the 10 classes, got 11"
    ):
        partition_pathological(y, 5, classes_per_client=11)
    with pytest.raises(ValueError, match=r"alpha must be a positive number, got 0"):
        partition_dirichlet(y, 5, alpha=0)
    with pytest.raises(
        ValueError, match=r"num_clients must be between 1 and the 1000 samples, got 0"
    ):
        partition_pathological(y, 0)


def test_bad_input_gets_clear_errors(digits_clients):
    train, _ = digits_clients
    x, y, xt, yt = train[0]
    with pytest.raises(ValueError, match=r"clients\[1\] has an empty training set"):
        simulate([train[0], (x[:0], y[:0], xt, yt)], _mlp(), method="fedavg", rounds=1)
    with pytest.raises(
        ValueError, match=r"same feature shape: clients\[0\] has \(64,\), clients\[1\] has \(32,\)"
    ):
        simulate([train[0], (x[:, :32], y, xt[:, :32], yt)], _mlp(), method="fedavg", rounds=1)
    with pytest.raises(ValueError, match=r"unknown method 'fedprox'; expected one of \['fedavg'"):
        simulate(train, _mlp(), method="fedprox", rounds=1)
    with pytest.raises(ValueError, match=r"rounds must be at least 1, got 0"):
        simulate(train, _mlp(), method="pfedhn", rounds=0)
    with pytest.raises(
        ValueError, match=r"unknown engine 'ray'; expected one of \['local', 'flower'\]"
    ):
        simulate(train, _mlp(), method="pfedhn", rounds=1, engine="ray")
    with pytest.raises(
        ValueError, match=r"clients must hold at least one client, got an empty list"
    ):
        simulate([], _mlp(), method="pfedhn", rounds=1)
    with pytest.raises(ValueError, match=r"eval_every must be an int >= 1, got 0"):
        simulate(train, _mlp(), method="pfedhn", rounds=1, eval_every=0)
    with pytest.raises(TypeError, match=r"target must be an nn.Module, got"):
        simulate(train, "mlp", method="pfedhn", rounds=1)
    with pytest.raises(TypeError, match=r"unknown settings \['local_step'\]"):
        simulate(train, _mlp(), method="pfedhn", rounds=1, local_step=3)


def _cli(out, *extra):
    from hypernetworks.cli import main

    return main(
        [
            "federated",
            "--benchmark",
            "digits",
            "--method",
            "pfedhn",
            "--clients",
            "6",
            "--rounds",
            "2",
            "--eval-every",
            "1",
            "--local-steps",
            "3",
            "--clients-per-round",
            "3",
            "--no-progress",
            "--out",
            str(out),
            *extra,
        ]
    )


class _Stop(Exception):
    pass


def test_cli_writes_metrics_plots_and_resumes_to_the_same_result(tmp_path, monkeypatch, capsys):
    import json

    from hypernetworks.federated import _benchmarks

    assert _cli(tmp_path / "a") == 0
    assert "training clients (mean)" in capsys.readouterr().out
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    for key in (
        "mean_client_accuracy",
        "client_accuracies",
        "new_client_accuracy",
        "method",
        "rounds",
        "seconds",
    ):
        assert key in metrics
    assert metrics["new_client_accuracy"] is None and len(metrics["client_accuracies"]) == 5
    assert {p.name for p in (tmp_path / "a").glob("*.png")} == {
        "accuracy_per_round.png",
        "accuracy_per_client.png",
    }
    original = _benchmarks.run_local

    def interrupted(*args, on_round, **kwargs):
        def stop(r):
            on_round(r)
            raise _Stop

        return original(*args, on_round=stop, **kwargs)

    monkeypatch.setattr(_benchmarks, "run_local", interrupted)
    with pytest.raises(_Stop):
        _cli(tmp_path / "b")
    monkeypatch.undo()
    assert _cli(tmp_path / "b", "--resume") == 0
    resumed = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert resumed["client_accuracies"] == metrics["client_accuracies"]
    assert [h["round"] for h in resumed["history"]] == [1, 2]


def test_cli_refuses_bad_flags(tmp_path, capsys):
    from hypernetworks.cli import main

    with pytest.raises(SystemExit):
        main(["federated", "--rounds", "0"])
    assert "--rounds" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["federated", "--method", "fedprox"])
    assert "invalid choice: 'fedprox'" in capsys.readouterr().err


def test_gradient_inversion_recovers_fedavg_images_not_hyperfl_ones():
    from hypernetworks.federated import gradient_inversion

    x, y = load_digits(images=True)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    out = gradient_inversion(net, x[:1], y[:1], steps=120)
    assert out["fedavg_mean_psnr"] > 25  # a recognisable reconstruction
    assert out["hyperfl_mean_psnr"] < out["fedavg_mean_psnr"] - 10
    assert tuple(out["fedavg_images"][0].shape) == (1, 8, 8)


def test_aggregate_before_configure_is_explained():
    method = PFedHN(_mlp(), num_clients=2)
    message = r"aggregate\('train'\) needs configure\('train'\) first"
    with pytest.raises(RuntimeError, match=message):
        method.aggregate("train", {0: {}}, Info(1, -1))
