"""The vmappable recurrent kernels reproduce PyTorch's fused RNN/GRU/LSTM kernels."""

import pytest
import torch
from torch import nn

from hypernetworks._recurrent import RecurrentKernels

CONFIGS = [
    (nn.RNN, {}),
    (nn.RNN, {"nonlinearity": "relu", "num_layers": 2}),
    (nn.GRU, {"num_layers": 2, "bidirectional": True}),
    (nn.GRU, {"bias": False}),
    (nn.LSTM, {}),
    (nn.LSTM, {"num_layers": 3, "bidirectional": True}),
    (nn.LSTM, {"proj_size": 3, "num_layers": 2}),
    (nn.LSTM, {"batch_first": False, "bias": False}),
]


# PyTorch's own reference run warns that oneDNN lacks LSTM projections; that is not ours.
@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
@pytest.mark.parametrize("kind, kwargs", CONFIGS, ids=[f"{k.__name__}-{v}" for k, v in CONFIGS])
def test_kernels_match_pytorch(kind, kwargs):
    kwargs = {"batch_first": True, **kwargs}
    rnn = kind(4, 5, **kwargs)
    x = torch.randn(3, 6, 4) if kwargs["batch_first"] else torch.randn(6, 3, 4)
    expected = rnn(x)
    with RecurrentKernels():
        got = rnn(x)
    torch.testing.assert_close(got[0], expected[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got[1], expected[1], rtol=1e-5, atol=1e-6)


def test_initial_state_is_used():
    rnn = nn.LSTM(4, 5, batch_first=True)
    x, h0, c0 = torch.randn(2, 3, 4), torch.randn(1, 2, 5), torch.randn(1, 2, 5)
    expected = rnn(x, (h0, c0))[0]
    with RecurrentKernels():
        torch.testing.assert_close(rnn(x, (h0, c0))[0], expected)


def test_packed_sequences_are_refused_with_a_clear_error():
    rnn = nn.GRU(4, 5, batch_first=True)
    packed = nn.utils.rnn.pack_padded_sequence(torch.randn(2, 3, 4), [3, 2], batch_first=True)
    with RecurrentKernels(), pytest.raises(ValueError, match="PackedSequence"):
        rnn(packed)
