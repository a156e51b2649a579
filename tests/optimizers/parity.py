"""
Shared machinery for parity tests: run one of our optimizers and a reference side by side on the
same parameters and the same gradients, and report how far apart the parameters end up.
"""

from typing import Any, Callable, Dict, List, Sequence

import torch

# Build an optimizer from a list of param-group dicts.
MakeOptimizer = Callable[[List[Dict[str, Any]]], torch.optim.Optimizer]


def make_params(dtype: torch.dtype = torch.float32, seed: int = 0) -> List[torch.Tensor]:
    """
    Parameters of several shapes: a matrix, a 0-d scalar, a non-contiguous transposed matrix,
    and a vector.
    """
    generator = torch.Generator().manual_seed(seed)
    matrix = torch.randn(5, 3, generator=generator, dtype=dtype)
    scalar = torch.randn((), generator=generator, dtype=dtype)
    transposed = torch.randn(4, 6, generator=generator, dtype=dtype).t()
    vector = torch.randn(7, generator=generator, dtype=dtype)
    assert not transposed.is_contiguous()
    return [matrix, scalar, transposed, vector]


def clone_params(params: Sequence[torch.Tensor]) -> List[torch.Tensor]:
    """Leaf copies that keep each tensor's strides, so non-contiguous stays non-contiguous."""
    copies = []
    for p in params:
        copy = torch.empty_strided(p.shape, p.stride(), dtype=p.dtype)
        copy.copy_(p)
        copies.append(copy.requires_grad_())
    return copies


def param_groups(params: Sequence[torch.Tensor], second_group: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Two groups: the first uses the optimizer's defaults, the second overrides `second_group`."""
    return [{'params': list(params[:2])}, {'params': list(params[2:]), **second_group}]


def gradients(params: Sequence[torch.Tensor], steps: int, seed: int = 1, scale: float = 1.0):
    r"""
    A deterministic stream of gradient noise, one tensor per parameter per step. The caller adds a
    pull towards zero (the gradient of $\frac{1}{20}\theta^2$) so the parameters move as in training.
    """
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        yield [scale * torch.randn(p.shape, generator=generator, dtype=p.dtype) for p in params]


def max_param_difference(make_ours: MakeOptimizer, make_reference: MakeOptimizer, *,
                         dtype: torch.dtype = torch.float32, steps: int = 200,
                         second_group: Dict[str, Any] = None, grad_scale: float = 1.0,
                         change_lr_at: int = None) -> float:
    r"""
    Step both optimizers `steps` times on identical parameters and gradients and return
    $\max |\theta_{ours} - \theta_{reference}|$.

    The gradient at each step is `grad_scale * noise + 0.1 * param` of that optimizer's own parameters,
    so differences that appear would feed back rather than cancel. At `change_lr_at` (default: half
    way) every group's `lr` is halved, as a scheduler would.
    """
    if second_group is None:
        second_group = {}
    if change_lr_at is None:
        change_lr_at = steps // 2
    initial = make_params(dtype)
    ours, reference = clone_params(initial), clone_params(initial)
    optimizers = [make_ours(param_groups(ours, second_group)),
                  make_reference(param_groups(reference, second_group))]
    for step, noise in enumerate(gradients(initial, steps, scale=grad_scale)):
        if step == change_lr_at:
            for optimizer in optimizers:
                for group in optimizer.param_groups:
                    group['lr'] *= 0.5
        for params, optimizer in zip((ours, reference), optimizers):
            for p, n in zip(params, noise):
                p.grad = n + 0.1 * p.detach()
            optimizer.step()
    return max_difference(ours, reference)


def max_difference(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> float:
    """$\\max |a - b|$ over every element of two lists of tensors."""
    return max((x - y).abs().max().item() for x, y in zip(a, b))
