"""
The one stepping helper of the optimizer tests: run an optimizer on a deterministic stream of
gradients, and compare two such runs (ours and a reference, or a run with a save / load half way
and one without), parameter by parameter.
"""

import functools
import io
from typing import Any, Callable, Dict, List, Optional, Sequence

import torch

# The `max_param_difference` allowed after 200 steps, by dtype: the one tolerance table of the
# optimizer tests. Two implementations round differently (a fused multiply-add or two operations,
# another order) and the parameters feed the gradients, so a last-bit difference grows over the
# run; against torch the largest seen is 7e-7 in float32 (AdaBelief) and 9e-16 in float64.
TOLERANCE = {torch.float32: 1e-6, torch.float64: 1e-12}

# Build an optimizer from a list of param-group dicts.
MakeOptimizer = Callable[[List[Dict[str, Any]]], torch.optim.Optimizer]
# Build a learning-rate scheduler for an optimizer.
MakeScheduler = Callable[[torch.optim.Optimizer], Any]


def make_params(dtype: torch.dtype = torch.float32, seed: int = 0, matrices: bool = False) -> List[torch.Tensor]:
    """
    Parameters of several shapes: a matrix, a 0-d scalar, a non-contiguous transposed matrix,
    and a vector. With `matrices`, for optimizers of matrices only (Muon), the scalar is a 1 x 1
    matrix and the vector a wide 2 x 7 one, so that there are tall, square and wide matrices.
    """
    generator = torch.Generator().manual_seed(seed)
    matrix = torch.randn(5, 3, generator=generator, dtype=dtype)
    scalar = torch.randn((1, 1) if matrices else (), generator=generator, dtype=dtype)
    transposed = torch.randn(4, 6, generator=generator, dtype=dtype).t()
    vector = torch.randn((2, 7) if matrices else (7,), generator=generator, dtype=dtype)
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


def param_groups(params: Sequence[torch.Tensor], second_group: Optional[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """
    Two groups: the first uses the optimizer's defaults, the second overrides `second_group`. With
    `second_group` `None`, one group, for an optimizer that takes only one (L-BFGS).
    """
    if second_group is None:
        return [{'params': list(params)}]
    return [{'params': list(params[:2])}, {'params': list(params[2:]), **second_group}]


def gradients(params: Sequence[torch.Tensor], steps: int, seed: int = 1, scale: float = 1.0):
    """A deterministic stream of gradient noise, one tensor per parameter per step."""
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        yield [scale * torch.randn(p.shape, generator=generator, dtype=p.dtype) for p in params]


def saved(state_dict: Dict[str, Any]) -> Dict[str, Any]:
    """`state_dict` after a trip through `torch.save`, so no tensor is shared with the optimizer."""
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    buffer.seek(0)
    return torch.load(buffer)


def sparse_rows(grad: torch.Tensor, step: int) -> torch.Tensor:
    """`grad` as a sparse tensor of rows, without every third row (which ones changes with the step)."""
    if grad.dim() == 0:
        return grad.to_sparse()
    present = (torch.arange(len(grad)) + step) % 3 != 0
    return (grad * present.view(-1, *[1] * (grad.dim() - 1))).to_sparse(1)


def train(params: Sequence[torch.Tensor], optimizer: torch.optim.Optimizer, noise: Sequence[List[torch.Tensor]], *,
          first_step: int = 0, pull: float = 0.1, change_lr_at: Optional[int] = None, scheduler=None,
          step_with: str = 'dense'):
    r"""
    Take one step per entry of `noise`, numbered from `first_step`. The gradient is the noise plus
    `pull` times the parameter (the gradient of $\frac{pull}{2}\theta^2$), so the parameters move as
    in training and a difference that appears feeds back rather than cancels; noise `None` leaves
    that parameter without a gradient. Before step
    `change_lr_at` every group's `lr` is halved, as a scheduler would; `scheduler.step()`, if
    given, follows every step.

    `step_with` says how the optimizer takes them: `'dense'` in `param.grad`; `'sparse'` in
    `param.grad` as sparse rows (see `sparse_rows`); `'closure'` from a closure whose loss,
    $n^\top \theta + \frac{pull}{2} \lVert \theta \rVert^2$, has that gradient, and which the
    optimizer may call as often as it likes.
    """
    for step, step_noise in enumerate(noise, start=first_step):
        if step == change_lr_at:
            for group in optimizer.param_groups:
                group['lr'] *= 0.5
        if step_with == 'closure':
            optimizer.step(functools.partial(noise_loss, optimizer, params, step_noise, pull))
        else:
            for p, n in zip(params, step_noise):
                p.grad = None if n is None else n + pull * p.detach()
                if step_with == 'sparse' and p.grad is not None:
                    p.grad = sparse_rows(p.grad, step)
            optimizer.step()
        if scheduler is not None:
            scheduler.step()


def noise_loss(optimizer: torch.optim.Optimizer, params: Sequence[torch.Tensor], noise: List[Optional[torch.Tensor]],
               pull: float) -> torch.Tensor:
    """
    The closure of `train`: the loss whose gradient is `noise + pull * param`, and that gradient in
    `param.grad`, as `backward()` would leave it but contiguous (`torch.optim.LBFGS` cannot read the
    gradient of a transposed parameter otherwise).
    """
    optimizer.zero_grad()
    loss = 0.
    for p, n in zip(params, noise):
        if n is not None:
            p.grad = (n + pull * p.detach()).contiguous()
            loss += ((n * p).sum() + pull / 2 * p.square().sum()).item()
    return torch.tensor(loss, dtype=params[0].dtype)


def max_param_difference(make_ours: MakeOptimizer, make_reference: MakeOptimizer, *,
                         dtype: torch.dtype = torch.float32, steps: int = 200,
                         second_group: Optional[Dict[str, Any]] = {}, grad_scale: float = 1.0, pull: float = 0.1,
                         change_lr_at: int = None, make_scheduler: MakeScheduler = None,
                         step_with: str = 'dense', matrices: bool = False) -> float:
    r"""
    Train both optimizers `steps` steps from the same parameters (`make_params`, with `matrices`)
    on the same gradient noise and return `max_scaled_difference` of the parameters. Without a
    scheduler, the `lr` of every group is halved at `change_lr_at` (default: half way).
    `second_group` `None` trains one group; `step_with` is `train`'s.
    """
    if change_lr_at is None and make_scheduler is None:
        change_lr_at = steps // 2
    initial = make_params(dtype, matrices=matrices)
    noise = list(gradients(initial, steps, scale=grad_scale))
    trained = []
    for make in (make_ours, make_reference):
        params = clone_params(initial)
        optimizer = make(param_groups(params, second_group))
        scheduler = make_scheduler(optimizer) if make_scheduler else None
        train(params, optimizer, noise, pull=pull, change_lr_at=change_lr_at, scheduler=scheduler, step_with=step_with)
        trained.append(params)
    return max_scaled_difference(*trained)


def resumed_and_uninterrupted(make_first: MakeOptimizer, make_second: MakeOptimizer, *,
                              second_group: Optional[Dict[str, Any]], dtype: torch.dtype = torch.float32,
                              steps: int = 100, step_with: str = 'dense', matrices: bool = False):
    """
    Train `steps // 2` steps with `make_first`, save the optimizer's and the parameters' state through
    `torch.save`, load both into fresh objects built by `make_second`, and train the remaining steps;
    the `lr` is halved three quarters of the way. Return those parameters and the parameters of
    `make_first` trained all `steps` without a break. `step_with` is `train`'s.
    """
    initial = make_params(dtype, matrices=matrices)
    noise = list(gradients(initial, steps))
    half, change_lr_at = steps // 2, 3 * steps // 4

    uninterrupted = clone_params(initial)
    train(uninterrupted, make_first(param_groups(uninterrupted, second_group)), noise, change_lr_at=change_lr_at,
          step_with=step_with)

    first = clone_params(initial)
    optimizer = make_first(param_groups(first, second_group))
    train(first, optimizer, noise[:half], change_lr_at=change_lr_at, step_with=step_with)
    checkpoint = saved({'params': [p.detach() for p in first], 'optimizer': optimizer.state_dict()})

    # The fresh parameters start elsewhere: only the checkpoint may carry the first half over.
    resumed = clone_params(make_params(dtype, seed=123, matrices=matrices))
    with torch.no_grad():
        for p, value in zip(resumed, checkpoint['params']):
            p.copy_(value)
    optimizer = make_second(param_groups(resumed, second_group))
    optimizer.load_state_dict(checkpoint['optimizer'])
    train(resumed, optimizer, noise[half:], first_step=half, change_lr_at=change_lr_at, step_with=step_with)
    return resumed, uninterrupted


def max_difference(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> float:
    """$\\max |a - b|$ over every element of two lists of tensors."""
    return max((x - y).abs().max().item() for x, y in zip(a, b))


def max_scaled_difference(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> float:
    r"""
    $\max |a - b| / \max(1, |b|)$: the absolute difference where values are up to 1 in size, the
    relative one beyond, where floating point rounds relative to the value (with `maximize`, the
    parameters grow to about 30, and one rounding there is 2e-6 in float32).
    """
    return max(((x - y).abs() / y.abs().clamp(min=1)).max().item() for x, y in zip(a, b))


def large_group_difference(make: Callable[[List[Dict[str, Any]]], torch.optim.Optimizer], steps: int = 5) -> float:
    """
    Step a group of more than `fast.MIN_NUMEL` elements with the automatic choice, which must be
    the fast path without a `FastPathWarning`, and with `fast=False`, on the same gradients; return
    the largest difference of the parameters.
    """
    import warnings
    from labml_opt import fast
    generator = torch.Generator().manual_seed(0)
    shapes = [(1024, 2048), (1024, 2048), (1024,), (3, 5)]
    initial = [torch.randn(shape, generator=generator) for shape in shapes]
    grads = [[torch.randn(shape, generator=generator) for shape in shapes] for _ in range(steps)]
    results = []
    for fast_path in (None, False):
        params = [p.clone().requires_grad_() for p in initial]
        optimizer = make([{'params': params, 'fast': fast_path}])
        with warnings.catch_warnings():
            warnings.simplefilter('error', fast.FastPathWarning)
            for step_grads in grads:
                for p, g in zip(params, step_grads):
                    p.grad = g
                optimizer.step()
        if fast_path is None:
            assert sum(p.numel() for p in params) >= fast.MIN_NUMEL
            assert optimizer.__dict__.get('_compiled_steps'), 'the large group did not take the fast path'
        results.append(params)
    return max((a - b).abs().max().item() for a, b in zip(*results))


def as_written_sizes(monkeypatch, cls: type) -> List[int]:
    """
    A list that fills, for the rest of the test, with the number of elements of each real tensor
    that `cls.step_param` steps as written; the compiled loop is recorded on stand-ins of other
    types, which are not counted.
    """
    sizes, step_param = [], cls.step_param

    def recorded(self, state, numbers, grad, param):
        if type(param) in (torch.Tensor, torch.nn.Parameter):
            sizes.append(param.numel())
        return step_param(self, state, numbers, grad, param)

    monkeypatch.setattr(cls, 'step_param', recorded)
    return sizes
