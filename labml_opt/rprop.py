r"""
---
title: Rprop optimizer
summary: An annotated PyTorch implementation of resilient backpropagation, which steps by the sign of the gradient with a step size of its own for every weight.
---

# Rprop

Resilient backpropagation, from [*A Direct Adaptive Method for Faster Backpropagation Learning:
The RPROP Algorithm*](https://doi.org/10.1109/ICNN.1993.298623) by Riedmiller and Braun (1993),
throws away the size of the gradient and keeps only its sign. Every weight has a step size
$\Delta_t$ of its own, which grows while the gradient keeps its sign and shrinks when it flips:

\begin{align}
s_t &= \operatorname{sign}(g_t \, g_{t-1}) \\
\Delta_t &\leftarrow \begin{cases}
  \min(\eta^+ \Delta_{t-1}, \Delta_{\max}) & \text{if } s_t > 0 \\
  \max(\eta^- \Delta_{t-1}, \Delta_{\min}) & \text{if } s_t < 0 \\
  \Delta_{t-1} & \text{otherwise}
\end{cases} \\
\theta_t &\leftarrow \theta_{t-1} - \operatorname{sign}(g_t) \, \Delta_t
\end{align}

with $0 < \eta^- < 1 < \eta^+$ (by default $\frac{1}{2}$ and $1.2$).

## Why it works

A gradient that keeps its sign says the minimum is further along, so the step grows, by 20% a
step, geometrically. A sign flip says the last step jumped over a minimum, so the step halves. The
size of the gradient, which depends on the scale of the loss and of each layer, plays no part:
this is what made Rprop fast and robust for the small networks of its time, trained on the full
data set.

## The variant implemented

After a flip, the step is not taken, and $g_t$ is remembered as zero, so that the next step
neither shrinks nor grows $\Delta$ again (the paper's "Rprop$^-$" without weight backtracking, as
in `torch.optim.Rprop`):

$$g_t \leftarrow 0 \quad \text{if } s_t < 0$$

## Where it fails

With mini-batches, the sign of the gradient flips because of sampling noise, not because a
minimum was crossed, and the steps of different batches do not average out the way gradient steps
do. A weight whose gradient is $+1$ on nine batches and $-9$ on the tenth has a mean gradient of
zero, and gradient descent leaves it where it is; Rprop takes nine steps one way and one the
other, all of about the same size. Rprop is for full-batch training; [RMSprop](rmsprop.html) is the
mini-batch idea that grew out of it, dividing by a running average of $|g|$ instead of taking
its sign.
"""

from typing import Any, Dict, Optional, Tuple

import torch
from torch import nn

from labml_opt.optimizer import GenericAdaptiveOptimizer, Numbers, Params


class Rprop(GenericAdaptiveOptimizer):
    """
    ## Rprop optimizer

    A drop-in replacement for `torch.optim.Rprop`: the same arguments, defaults, update and state.
    """

    def __init__(self, params: Params, lr: float = 1e-2, etas: Tuple[float, float] = (0.5, 1.2),
                 step_sizes: Tuple[float, float] = (1e-6, 50), *, capturable: bool = False,
                 foreach: Optional[bool] = None, maximize: bool = False, differentiable: bool = False,
                 state_dtype: Optional[torch.dtype] = None, kahan_sum: bool = False, seed: int = 0):
        r"""
        * `lr` is the first step size $\Delta_0$ of every weight
        * `etas` is $(\eta^-, \eta^+)$, with $0 < \eta^- < 1 < \eta^+$
        * `step_sizes` is $(\Delta_{\min}, \Delta_{\max})$
        * `maximize` ascends the objective instead of descending it
        * `foreach`, `differentiable` and `capturable` are torch's implementation keywords; see
          [`implementation_options`](optimizer.html#GenericAdaptiveOptimizer)
        * `state_dtype`, `kahan_sum` and `seed` keep the state in `torch.bfloat16`, or add to a
          `bfloat16` parameter with Kahan summation, as [low-precision state](low_precision.html) explains
        """
        self.check('etas', etas, isinstance(etas, (tuple, list)) and len(etas) == 2 and 0 < etas[0] < 1 < etas[1],
                   'a pair (eta_minus, eta_plus) with 0 < eta_minus < 1 < eta_plus')
        self.check('step_sizes', step_sizes, isinstance(step_sizes, (tuple, list)) and len(step_sizes) == 2 and
                   0 <= step_sizes[0] <= step_sizes[1], 'a pair (min, max) with 0 <= min <= max')
        defaults = dict(lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes), maximize=maximize,
                        **self.implementation_options(foreach, differentiable, capturable))
        super().__init__(params, defaults, state_dtype=state_dtype, kahan_sum=kahan_sum, seed=seed)

    def init_state(self, state: Dict[str, Any], group: Dict[str, Any], param: nn.Parameter):
        r"""
        ### Initialize the state of a parameter

        * `step` counts updates, as `torch.optim` does
        * `prev` is $g_{t-1}$, zero before the first step, so that the first step keeps $\Delta_0$
        * `step_size` is $\Delta_t$, starting at `lr`. A complex weight is two real ones, and each
          starts at `lr`, as in `torch.optim`: its step size is $\Delta_0 + i \Delta_0$.
        """
        state['step'] = 0
        state['prev'] = torch.zeros_like(param, memory_format=torch.preserve_format)
        lr = float(group['lr'])
        state['step_size'] = torch.full_like(param, complex(lr, lr) if param.is_complex() else lr,
                                             memory_format=torch.preserve_format)

    def step_numbers(self, state: Dict[str, Any], group: Dict[str, Any]) -> Numbers:
        """
        ### The numbers of a step

        The group's hyper-parameters as they are, and the step counted.
        """
        state['step'] += 1
        eta_minus, eta_plus = group['etas']
        step_size_min, step_size_max = group['step_sizes']
        return Numbers(eta_minus=eta_minus, eta_plus=eta_plus, step_size_min=step_size_min,
                       step_size_max=step_size_max)

    def step_param(self, state: Dict[str, Any], numbers: Numbers, grad: torch.Tensor, param: nn.Parameter):
        r"""
        ### Update one parameter

        * `grad` is $g_t$
        """
        prev, step_size = state['prev'], state['step_size']
        # $s_t = \operatorname{sign}(g_t \, g_{t-1})$
        sign = (grad * prev).sign()
        # $\eta^+$ where $s_t > 0$, $\eta^-$ where $s_t < 0$, and $1$ where either gradient is zero
        factor = torch.where(sign > 0, numbers.eta_plus, torch.where(sign < 0, numbers.eta_minus, torch.ones_like(sign)))
        # $\Delta_t \leftarrow \operatorname{clip}(\Delta_{t-1} \cdot \text{factor}, \Delta_{\min}, \Delta_{\max})$
        step_size.mul_(factor).clamp_(numbers.step_size_min, numbers.step_size_max)
        # After a flip, no step, and $g_t$ is remembered as zero
        grad = torch.where(sign < 0, 0., grad)
        # $\theta_t \leftarrow \theta_{t-1} - \operatorname{sign}(g_t) \, \Delta_t$
        param.sub_(grad.sign() * step_size)
        prev.copy_(grad)
