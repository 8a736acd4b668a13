"""Conditioners: shapes, semantics and the errors they raise."""

import math

import pytest
import torch

from hypernetworks import Hyperparameters, Noise, SetEncoder, TaskEmbedding, Vector


def test_task_embedding_accepts_ints_tensors_and_lists():
    tasks = TaskEmbedding(5, 3)
    torch.testing.assert_close(tasks(2), tasks.embedding.weight[2])
    torch.testing.assert_close(tasks(torch.tensor(4)), tasks.embedding.weight[4])
    batch = tasks(torch.tensor([1, 1, 0]))
    assert batch.shape == (3, 3)
    torch.testing.assert_close(tasks([1, 1, 0]), batch)


@pytest.mark.parametrize(
    "c, error, message",
    [
        (5, ValueError, r"task ids must lie in \[0, 4\] \(num_tasks=5\), got 5"),
        (torch.tensor([0, -1]), ValueError, r"task ids must lie in \[0, 4\] .* got -1"),
        (1.0, TypeError, r"expected a task id \(int\).* got 1.0 \(float\)"),
        (True, TypeError, r"got True \(bool\)"),
        (
            torch.tensor([0.0, 1.0]),
            TypeError,
            "got Tensor of shape \\(2,\\) and dtype torch.float32",
        ),
        (torch.zeros(2, 2, dtype=torch.long), TypeError, "got Tensor of shape \\(2, 2\\)"),
        (
            torch.tensor([], dtype=torch.long),
            ValueError,
            "at least one task id, got an empty batch",
        ),
        ("0", TypeError, r"got '0' \(str\)"),
    ],
)
def test_task_embedding_errors(c, error, message):
    with pytest.raises(error, match=message):
        TaskEmbedding(5, 3)(c)


def test_hyperparameters_normalise_linear_and_log_ranges():
    hp = Hyperparameters(wd=(1e-5, 1e-1, "log"), p=(0.0, 0.5), m=(1.0, 3.0, "linear"))
    assert hp.dim == 3 and hp.bounded
    torch.testing.assert_close(hp({"wd": 1e-5, "p": 0.5, "m": 2.0}), torch.tensor([0.0, 1.0, 0.5]))
    torch.testing.assert_close(hp({"wd": 1e-3, "p": 0.0, "m": 3.0}), torch.tensor([0.5, 0.0, 1.0]))
    batch = hp(
        {
            "wd": torch.tensor([1e-5, 1e-1]),
            "p": torch.tensor([0.1, 0.2]),
            "m": torch.tensor([1.0, 1.0]),
        }
    )
    assert batch.shape == (2, 3)
    torch.testing.assert_close(hp(torch.tensor([[1e-5, 0.1, 1.0], [1e-1, 0.2, 1.0]])), batch)
    # endpoints given in float64 survive the float32 round trip
    assert hp(torch.tensor([1e-5, 0.5, 3.0], dtype=torch.float64)).tolist() == [0.0, 1.0, 1.0]


@pytest.mark.parametrize(
    "c, error, message",
    [
        ({"wd": 1.0, "p": 0.1}, ValueError, r"'wd' must lie in \[1e-05, 0.1\], got 1"),
        ({"wd": 1e-3, "p": -0.2}, ValueError, r"'p' must lie in \[0, 0.5\], got -0.2"),
        ({"wd": 1e-3}, ValueError, r"must be exactly \['wd', 'p'\]; missing \['p'\], unknown \[\]"),
        ({"wd": 1e-3, "p": 0.1, "lr": 1.0}, ValueError, r"missing \[\], unknown \['lr'\]"),
        ({"wd": "big", "p": 0.1}, TypeError, r"'wd' must be a float, got 'big' \(str\)"),
        ({"wd": torch.tensor([1e-3, 1e-2]), "p": torch.tensor([0.1])}, ValueError, "same shape"),
        (torch.tensor([1e-3, 0.1, 0.2]), ValueError, r"shape \[2\] or \[batch, 2\]"),
        (torch.tensor([1, 0]), TypeError, "must be floating point, got dtype torch.int64"),
        ([1e-3, 0.1], TypeError, r"must be a dict \{name: value\} or a tensor, got \[0.001, 0.1\]"),
        (torch.tensor([float("nan"), 0.1]), ValueError, "'wd' must lie in .* got nan"),
    ],
)
def test_hyperparameter_errors(c, error, message):
    with pytest.raises(error, match=message):
        Hyperparameters(wd=(1e-5, 1e-1, "log"), p=(0.0, 0.5))(c)


@pytest.mark.parametrize(
    "ranges, error, message",
    [
        ({}, ValueError, "at least one `name=\\(low, high\\)` range"),
        ({"a": (1.0, 0.0)}, ValueError, "'a': low must be below high, got \\(1.0, 0.0\\)"),
        ({"a": (0.0, 1.0, "log")}, ValueError, "'a': a 'log' range needs low > 0"),
        ({"a": (0.1, 1.0, "exp")}, ValueError, "scale must be 'linear' or 'log', got 'exp'"),
        ({"a": 0.5}, TypeError, "'a' needs \\(low, high\\)"),
        ({"a": (0.0, math.inf)}, TypeError, "finite numeric bounds"),
    ],
)
def test_hyperparameter_range_errors(ranges, error, message):
    with pytest.raises(error, match=message):
        Hyperparameters(**ranges)


def test_set_encoder_is_permutation_invariant_and_batches():
    enc = SetEncoder(5, 7)
    s = torch.randn(9, 5)
    torch.testing.assert_close(enc(s), enc(s[torch.randperm(9)]))
    batch = torch.randn(3, 9, 5)
    out = enc(batch)
    assert out.shape == (3, 7)
    torch.testing.assert_close(out[1], enc(batch[1]))
    for pool in ("sum", "max"):
        e = SetEncoder(5, 7, pool=pool)
        torch.testing.assert_close(e(s), e(s.flip(0)))


@pytest.mark.parametrize(
    "c, error, message",
    [
        (torch.randn(9, 4), ValueError, r"\[n, 5\] .* got shape \(9, 4\)"),
        (torch.randn(0, 5), ValueError, r"got shape \(0, 5\)"),
        (torch.randn(5), ValueError, r"got shape \(5,\)"),
        (torch.ones(3, 5, dtype=torch.long), TypeError, "dtype torch.int64"),
    ],
)
def test_set_encoder_errors(c, error, message):
    with pytest.raises(error, match=message):
        SetEncoder(5, 7)(c)
    with pytest.raises(ValueError, match="pool must be 'mean', 'sum' or 'max', got 'median'"):
        SetEncoder(5, 7, pool="median")


def test_noise_draws_fresh_samples_and_is_seedable():
    noise = Noise(4, seed=3)
    a, b = noise(None), noise(None)
    assert a.shape == (4,) and not torch.equal(a, b)
    noise.manual_seed(3)
    torch.testing.assert_close(noise(None), a)
    many = noise(6)
    assert many.shape == (6, 4) and many.std() > 0.5
    z = torch.randn(2, 4)
    assert noise(z) is z
    torch.manual_seed(1)
    first = Noise(4)(None)
    torch.manual_seed(1)
    torch.testing.assert_close(Noise(4)(None), first)  # unseeded draws follow torch's RNG


@pytest.mark.parametrize(
    "c, error, message",
    [
        (0, ValueError, "number of noise draws must be a positive int, got 0"),
        ("a", TypeError, r"None \(one draw\), an int n \(n draws\) or a tensor z, got 'a'"),
        (torch.randn(3), ValueError, r"\[4\] or \[batch, 4\], got Tensor of shape \(3,\)"),
    ],
)
def test_noise_errors(c, error, message):
    with pytest.raises(error, match=message):
        Noise(4)(c)
    with pytest.raises(TypeError, match="seed must be an int, got 1.5"):
        Noise(4, seed=1.5)


@pytest.mark.parametrize(
    "c, error, message",
    [
        (torch.randn(4), ValueError, r"shape \[3\] or \[batch, 3\], got shape \(4,\)"),
        (torch.randn(2, 3, 3), ValueError, r"got shape \(2, 3, 3\)"),
        (torch.ones(3, dtype=torch.long), TypeError, "got dtype torch.int64"),
        ([0.0, 1.0, 2.0], TypeError, r"float Tensor .* got \[0.0, 1.0, 2.0\] \(list\)"),
    ],
)
def test_vector_errors(c, error, message):
    with pytest.raises(error, match=message):
        Vector(3)(c)


@pytest.mark.parametrize(
    "make",
    [lambda: TaskEmbedding(0, 3), lambda: Vector(-2), lambda: SetEncoder(3, 0), lambda: Noise(2.0)],
)
def test_sizes_must_be_positive_ints(make):
    with pytest.raises((TypeError, ValueError), match="must be a positive int"):
        make()
