import pytest
import torch

from labml_opt import WeightDecay


@pytest.mark.parametrize('decoupled', [False, True])
def test_zero_weight_decay_never_touches_the_parameter_or_gradient(decoupled):
    # In-place operations bump a tensor's version counter; with lambda = 0 there must be none.
    param, grad = torch.ones(3), torch.ones(3)
    result = WeightDecay(0., weight_decouple=decoupled)(param, grad, {'weight_decay': 0., 'lr': 1.})
    assert result is grad
    assert param._version == 0 and grad._version == 0


def test_absolute_decay_without_decoupling_is_rejected():
    with pytest.raises(ValueError, match='absolute'):
        WeightDecay(0.1, weight_decouple=False, absolute=True)
