"""
Shared machinery for checkpoint tests: train, save, load into a fresh optimizer, resume, and
compare with training that was never interrupted or with the same run under another optimizer.
"""

import io
from typing import Any, Callable, Dict, List

import torch

from tests.optimizers.parity import clone_params, gradients, make_params, max_difference, param_groups

# Build an optimizer from a list of param-group dicts.
MakeOptimizer = Callable[[List[Dict[str, Any]]], torch.optim.Optimizer]


def saved(state_dict: Dict[str, Any]) -> Dict[str, Any]:
    """`state_dict` after a trip through `torch.save`, so no tensor is shared with the optimizer."""
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    buffer.seek(0)
    return torch.load(buffer)


def train(params: List[torch.Tensor], optimizer: torch.optim.Optimizer, noise: List[List[torch.Tensor]]):
    """One step per entry of `noise`, with the same gradients as `parity.max_param_difference`."""
    for step_noise in noise:
        for p, n in zip(params, step_noise):
            p.grad = n + 0.1 * p.detach()
        optimizer.step()


def resumed_and_uninterrupted(make_first: MakeOptimizer, make_second: MakeOptimizer, *,
                              second_group: Dict[str, Any], steps: int = 100, dtype=torch.float32):
    """
    Train `steps // 2` steps with `make_first`, save the optimizer's and the parameters' state, load
    both into fresh objects built by `make_second` and train the remaining steps. Return those
    parameters and the parameters of `make_first` trained for all `steps` without a break.
    """
    initial = make_params(dtype)
    noise = list(gradients(initial, steps))
    half = steps // 2

    uninterrupted = clone_params(initial)
    train(uninterrupted, make_first(param_groups(uninterrupted, second_group)), noise)

    first = clone_params(initial)
    optimizer = make_first(param_groups(first, second_group))
    train(first, optimizer, noise[:half])
    checkpoint = saved({'params': [p.detach() for p in first], 'optimizer': optimizer.state_dict()})

    resumed = clone_params(initial)
    with torch.no_grad():
        for p, value in zip(resumed, checkpoint['params']):
            p.copy_(value)
    optimizer = make_second(param_groups(resumed, second_group))
    optimizer.load_state_dict(checkpoint['optimizer'])
    train(resumed, optimizer, noise[half:])
    return resumed, uninterrupted


def assert_resume_is_bit_identical(make: MakeOptimizer, *, second_group: Dict[str, Any]):
    """A save / load in the middle of training changes nothing, down to the last bit."""
    resumed, uninterrupted = resumed_and_uninterrupted(make, make, second_group=second_group)
    for a, b in zip(resumed, uninterrupted):
        assert torch.equal(a, b)


def max_resume_difference(make_first: MakeOptimizer, make_second: MakeOptimizer, *,
                          second_group: Dict[str, Any]) -> float:
    """
    The largest parameter difference between training that switches from `make_first` to `make_second`
    through a state_dict half way, and `make_first` all the way.
    """
    resumed, uninterrupted = resumed_and_uninterrupted(make_first, make_second, second_group=second_group)
    return max_difference(resumed, uninterrupted)
