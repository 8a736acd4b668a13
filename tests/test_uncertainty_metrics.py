"""hypernetworks.uncertainty metrics: known values, invariants and bad input."""

from __future__ import annotations

import pytest
import torch

from hypernetworks.uncertainty import (
    auroc,
    classification_summary,
    expected_calibration_error,
    gaussian_mixture,
    interval_calibration_error,
)


def test_identical_members_have_no_mutual_information() -> None:
    logits = torch.randn(1, 6, 4).expand(5, 6, 4)
    s = classification_summary(logits)
    torch.testing.assert_close(s["mutual_information"], torch.zeros(6), atol=1e-6, rtol=0)
    torch.testing.assert_close(s["probs"], logits[0].softmax(-1))
    torch.testing.assert_close(s["probs"].sum(-1), torch.ones(6))


def test_disagreeing_members_have_mutual_information_up_to_log_classes() -> None:
    logits = torch.tensor([[[50.0, 0.0]], [[0.0, 50.0]]])
    s = classification_summary(logits)
    assert float(s["mutual_information"][0]) == pytest.approx(torch.log(torch.tensor(2.0)).item())
    assert float(s["expected_entropy"][0]) == pytest.approx(0.0, abs=1e-6)


def test_ece_is_zero_when_confidence_matches_accuracy() -> None:
    probs = torch.tensor([[0.75, 0.25]] * 4)
    assert expected_calibration_error(probs, torch.tensor([0, 0, 0, 1])) == 0.0
    assert expected_calibration_error(probs, torch.tensor([1, 1, 1, 1])) == 0.75


def test_auroc_known_values_and_ties() -> None:
    assert auroc(torch.tensor([0.0, 1.0]), torch.tensor([2.0, 3.0])) == 1.0
    assert auroc(torch.tensor([2.0, 3.0]), torch.tensor([0.0, 1.0])) == 0.0
    assert auroc(torch.ones(3), torch.ones(4)) == 0.5
    assert auroc(torch.tensor([0.1, 0.2, 0.3]), torch.tensor([0.25, 0.9])) == pytest.approx(5 / 6)


def test_gaussian_mixture_adds_epistemic_variance() -> None:
    outputs = torch.stack([torch.tensor([[-1.0, 5.0]]), torch.tensor([[1.0, 5.0]])])
    m = gaussian_mixture(outputs)
    std = torch.nn.functional.softplus(torch.tensor(5.0)) + 1e-3
    assert float(m["mean"][0]) == 0.0 and float(m["epistemic"][0]) == pytest.approx(1.0)
    assert float(m["variance"][0]) == pytest.approx(1.0 + float(std) ** 2)


def test_interval_calibration_tells_too_narrow_from_right() -> None:
    y = torch.randn(5000, generator=torch.Generator().manual_seed(1))
    right = interval_calibration_error(torch.zeros(5000), torch.ones(5000), y)
    narrow = interval_calibration_error(torch.zeros(5000), torch.full((5000,), 0.1), y)
    assert right < 0.02 < 0.3 < narrow


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda: classification_summary(torch.zeros(3, 4)),
            ValueError,
            r"3 dimensions \[K members",
        ),
        (lambda: classification_summary([1.0]), TypeError, "float tensor"),
        (
            lambda: auroc(torch.tensor([]), torch.ones(2)),
            ValueError,
            "in_scores must be a non-empty",
        ),
        (lambda: expected_calibration_error(torch.ones(3, 2), torch.ones(2)), ValueError, "probs"),
        (
            lambda: expected_calibration_error(torch.ones(2, 2), torch.ones(2), bins=0),
            ValueError,
            "bins must be a positive int",
        ),
        (lambda: gaussian_mixture(torch.zeros(2, 3, 4)), ValueError, r"\[K, N, 2\]"),
        (
            lambda: interval_calibration_error(torch.zeros(3), torch.ones(2), torch.zeros(3)),
            ValueError,
            "one length",
        ),
    ],
)
def test_metrics_refuse_bad_input(call, error, match) -> None:
    with pytest.raises(error, match=match):
        call()
