"""Choosing the generated parameters by glob pattern and by module type."""

import pytest
from torch import nn

from hypernetworks import hypernetize, select_parameters


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3)
        self.norm = nn.BatchNorm2d(3)


def _net():
    return nn.ModuleDict({"features": nn.Sequential(Block(), Block()), "head": nn.Linear(3, 2)})


def test_none_selects_everything_in_order():
    net = _net()
    assert select_parameters(net, None) == [n for n, _ in net.named_parameters()]


def test_patterns_types_and_mixtures():
    net = _net()
    assert select_parameters(net, ["head.*"]) == ["head.weight", "head.bias"]
    assert select_parameters(net, ["features.*.weight"]) == [
        "features.0.conv.weight",
        "features.0.norm.weight",
        "features.1.conv.weight",
        "features.1.norm.weight",
    ]
    assert select_parameters(net, [nn.BatchNorm2d]) == [
        "features.0.norm.weight",
        "features.0.norm.bias",
        "features.1.norm.weight",
        "features.1.norm.bias",
    ]
    assert select_parameters(net, [Block]) == [n for n, _ in net.named_parameters()][:8]
    assert select_parameters(net, ["head.bias", nn.Conv2d]) == [
        "features.0.conv.weight",
        "features.0.conv.bias",
        "features.1.conv.weight",
        "features.1.conv.bias",
        "head.bias",
    ]
    assert select_parameters(net, "head.bias") == ["head.bias"]


def test_tied_parameters_appear_once_under_their_first_name():
    shared = nn.Linear(4, 4)
    net = nn.Sequential(shared, nn.ReLU(), shared)
    assert select_parameters(net, [nn.Linear]) == ["0.weight", "0.bias"]
    model = hypernetize(net, 3)
    assert model.generated == ("0.weight", "0.bias")


@pytest.mark.parametrize(
    "params, error, message",
    [
        ([], ValueError, "params is empty, so no parameter is selected; pass None"),
        (
            ["features.*.gamma"],
            ValueError,
            (
                r"params pattern 'features.\*.gamma' matches no parameter of the target; its "
                r"parameters are: features.0.conv.weight, "
            ),
        ),
        (
            [nn.LSTM],
            ValueError,
            (
                "params type LSTM matches no module with parameters in the target; module types "
                "with parameters there: BatchNorm2d, Conv2d, Linear"
            ),
        ),
        (
            [3],
            TypeError,
            (
                r"each params item must be a glob pattern \(str\) or an nn.Module "
                r"subclass, got 3 \(int\)"
            ),
        ),
        ([int], TypeError, "got <class 'int'>"),
        ({"head.*"}, TypeError, r"params must be None or a list .* got \{'head.\*'\} \(set\)"),
    ],
)
def test_selection_errors(params, error, message):
    with pytest.raises(error, match=message):
        select_parameters(_net(), params)
