"""Predictive summaries of an ensemble of members and the scores that judge them.

Every method of the recipe — the noise hypernetwork, the deep ensemble, MC dropout and the
single network — returns its predictions as a stack of members ``[K, N, ...]`` (K = 1 for
the single network). These functions turn such a stack into the predictive distribution
and score it: accuracy, negative log-likelihood, expected calibration error, the
out-of-distribution AUROC and, for regression, the calibration of the predictive
intervals.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .._checks import check_positive_int, describe

__all__ = [
    "auroc",
    "classification_summary",
    "expected_calibration_error",
    "gaussian_mixture",
    "interval_calibration_error",
]


def _check_members(logits: object, name: str, dims: int) -> Tensor:
    if not isinstance(logits, Tensor) or not logits.is_floating_point():
        raise TypeError(f"{name} must be a float tensor [K, N, ...], got {describe(logits)}")
    if logits.dim() != dims or logits.shape[0] < 1 or logits.shape[1] < 1:
        raise ValueError(
            f"{name} must have {dims} dimensions [K members, N samples, ...] with K, N >= 1, "
            f"got shape {tuple(logits.shape)}"
        )
    return logits


def classification_summary(logits: Tensor) -> dict[str, Tensor]:
    """The predictive distribution of K members' logits and its uncertainty.

    Args:
        logits: ``[K, N, C]`` logits of K members on N inputs.

    Returns:
        ``probs`` ``[N, C]`` (the mean of the members' softmax), ``entropy`` ``[N]`` (of the
        mean: total uncertainty), ``expected_entropy`` ``[N]`` (the members' mean entropy:
        aleatoric) and ``mutual_information`` ``[N]`` (their difference: the members'
        disagreement, epistemic), all in nats.

    Raises:
        TypeError: ``logits`` is not a float tensor.
        ValueError: ``logits`` is not ``[K, N, C]``.

    Example:
        >>> import torch
        >>> s = classification_summary(torch.tensor([[[4.0, 0.0]], [[0.0, 4.0]]]))
        >>> round(float(s["mutual_information"][0]), 3)
        0.603
    """
    logits = _check_members(logits, "logits", 3)
    log_p = torch.log_softmax(logits, dim=-1)
    log_mean = torch.logsumexp(log_p, dim=0) - math.log(logits.shape[0])
    probs = log_mean.exp()
    entropy = -(probs * log_mean).sum(-1)
    expected = -(log_p.exp() * log_p).sum(-1).mean(0)
    return {
        "probs": probs,
        "log_probs": log_mean,
        "entropy": entropy,
        "expected_entropy": expected,
        "mutual_information": (entropy - expected).clamp_min(0),
    }


def expected_calibration_error(probs: Tensor, labels: Tensor, *, bins: int = 15) -> float:
    """Expected calibration error of the top-class confidence (equal-width bins).

    Args:
        probs: ``[N, C]`` predicted probabilities.
        labels: ``[N]`` true classes.
        bins: number of confidence bins over [0, 1].

    Returns:
        ``Σ_b (n_b / N) · |accuracy_b − confidence_b|``, in [0, 1].

    Raises:
        ValueError: the shapes do not match or ``bins`` < 1.

    Example:
        >>> import torch
        >>> expected_calibration_error(torch.tensor([[0.75, 0.25], [0.75, 0.25]]),
        ...                            torch.tensor([0, 1]))
        0.25
    """
    bins = check_positive_int(bins, "bins")
    if probs.dim() != 2 or labels.shape != probs.shape[:1]:
        raise ValueError(
            f"probs must be [N, C] and labels [N], got {tuple(probs.shape)} and "
            f"{tuple(labels.shape)}"
        )
    confidence, predicted = probs.double().max(-1)
    correct = (predicted == labels).double()
    index = (confidence * bins).long().clamp(0, bins - 1)
    gap = torch.zeros(bins, dtype=torch.float64).index_add_(0, index, correct - confidence)
    return round(float(gap.abs().sum() / probs.shape[0]), 12)


def auroc(in_scores: Tensor, out_scores: Tensor) -> float:
    """Area under the ROC curve for telling ``out`` from ``in`` by a higher score.

    The Mann–Whitney statistic with tied scores counted half: the probability that a
    random out-of-distribution input scores higher than a random in-distribution one.

    Args:
        in_scores: ``[N_in]`` scores of in-distribution inputs.
        out_scores: ``[N_out]`` scores of out-of-distribution inputs.

    Returns:
        The AUROC in [0, 1]; 0.5 is chance.

    Raises:
        ValueError: either set is empty or not 1-D.

    Example:
        >>> import torch
        >>> auroc(torch.tensor([0.1, 0.2, 0.3]), torch.tensor([0.25, 0.9]))
        0.833333
    """
    for name, s in (("in_scores", in_scores), ("out_scores", out_scores)):
        if s.dim() != 1 or s.numel() == 0:
            raise ValueError(f"{name} must be a non-empty 1-D tensor, got {tuple(s.shape)}")
    scores = torch.cat([in_scores, out_scores]).double()
    order = scores.argsort()
    ranks = torch.empty_like(scores)
    ranks[order] = torch.arange(1, scores.numel() + 1, dtype=scores.dtype)
    # average the ranks of tied scores
    unique, inverse = scores.unique(return_inverse=True)
    sums = torch.zeros_like(unique).index_add_(0, inverse, ranks)
    counts = torch.zeros_like(unique).index_add_(0, inverse, torch.ones_like(ranks))
    ranks = (sums / counts)[inverse]
    n_in, n_out = in_scores.numel(), out_scores.numel()
    u = ranks[n_in:].sum() - n_out * (n_out + 1) / 2
    return round(float(u / (n_in * n_out)), 6)


def gaussian_mixture(outputs: Tensor) -> dict[str, Tensor]:
    """The predictive mean and variance of K heteroscedastic Gaussian regressors.

    Each member outputs ``[mean, raw]`` with its standard deviation
    ``softplus(raw) + 1e-3``; the mixture's variance is the members' mean variance
    (aleatoric) plus the variance of their means (epistemic).

    Args:
        outputs: ``[K, N, 2]`` member outputs.

    Returns:
        ``mean``, ``variance``, ``aleatoric`` and ``epistemic``, each ``[N]``.

    Raises:
        TypeError: ``outputs`` is not a float tensor.
        ValueError: ``outputs`` is not ``[K, N, 2]``.

    Example:
        >>> import torch
        >>> m = gaussian_mixture(torch.tensor([[[0.0, 10.0]], [[2.0, 10.0]]]))
        >>> float(m["mean"][0]), round(float(m["epistemic"][0]), 3)
        (1.0, 1.0)
    """
    outputs = _check_members(outputs, "outputs", 3)
    if outputs.shape[-1] != 2:
        raise ValueError(f"outputs must be [K, N, 2] (mean, raw scale), got {tuple(outputs.shape)}")
    means = outputs[..., 0]
    variances = (torch.nn.functional.softplus(outputs[..., 1]) + 1e-3) ** 2
    mean = means.mean(0)
    aleatoric = variances.mean(0)
    epistemic = means.var(0, unbiased=False)
    return {
        "mean": mean,
        "variance": aleatoric + epistemic,
        "aleatoric": aleatoric,
        "epistemic": epistemic,
    }


def interval_calibration_error(
    mean: Tensor, variance: Tensor, y: Tensor, *, levels: int = 19
) -> float:
    """Calibration error of central Gaussian predictive intervals (Kuleshov et al. 2018).

    For nominal coverages ``p = 0.05, 0.10, …, 0.95`` the central interval
    ``mean ± z_p·std`` should hold a fraction ``p`` of the targets; the error is the mean
    ``|observed − p|``.

    Args:
        mean: ``[N]`` predictive means.
        variance: ``[N]`` predictive variances (> 0).
        y: ``[N]`` targets.
        levels: how many nominal coverages, evenly spaced in (0, 1).

    Returns:
        The mean absolute coverage error, in [0, 1].

    Raises:
        ValueError: the shapes differ or ``levels`` < 1.

    Example:
        >>> import torch
        >>> y = torch.randn(20000, generator=torch.Generator().manual_seed(0))
        >>> interval_calibration_error(torch.zeros(20000), torch.ones(20000), y) < 0.01
        True
    """
    levels = check_positive_int(levels, "levels")
    if not (mean.shape == variance.shape == y.shape) or mean.dim() != 1:
        raise ValueError(
            f"mean, variance and y must be 1-D of one length, got {tuple(mean.shape)}, "
            f"{tuple(variance.shape)} and {tuple(y.shape)}"
        )
    p = torch.arange(1, levels + 1, dtype=torch.float64) / (levels + 1)
    z = torch.special.ndtri(0.5 + p / 2)
    distance = ((y - mean).abs() / variance.sqrt()).double()
    observed = (distance[None, :] <= z[:, None]).double().mean(1)
    return round(float((observed - p).abs().mean()), 12)
