r"""
Parity where $\epsilon$ matters: pure gradient noise about as small as $\epsilon$, with no pull
towards zero (which, in `parity.max_param_difference`, would keep the gradients near 0.1).
Where an optimizer adds $\epsilon$, or how it rescales it, then changes every step.
"""

from typing import Any, Dict

import torch

from tests.optimizers.parity import MakeOptimizer, clone_params, gradients, make_params, max_difference, param_groups


def max_param_difference_with_tiny_gradients(make_ours: MakeOptimizer, make_reference: MakeOptimizer, *,
                                             grad_scale: float, steps: int = 100,
                                             second_group: Dict[str, Any] = None) -> float:
    r"""Step both optimizers on gradients `grad_scale * noise` and return $\max |\theta_{ours} - \theta_{ref}|$."""
    initial = make_params()
    ours, reference = clone_params(initial), clone_params(initial)
    optimizers = [make_ours(param_groups(ours, second_group or {})),
                  make_reference(param_groups(reference, second_group or {}))]
    for noise in gradients(initial, steps, scale=grad_scale):
        for params, optimizer in zip((ours, reference), optimizers):
            for p, n in zip(params, noise):
                p.grad = n.clone()
            optimizer.step()
    return max_difference(ours, reference)
