r"""
---
title: Averaged SGD (ASGD) optimizer
summary: An annotated PyTorch implementation of averaged stochastic gradient descent, which returns the running average of the iterates rather than the last one.
---

# Averaged SGD

Averaged stochastic gradient descent, from [*Acceleration of Stochastic Approximation by
Averaging*](https://doi.org/10.1137/0330046) by Polyak and Juditsky (1992), runs SGD with a
slowly decaying learning rate and keeps, beside the iterate $\theta_t$, the average of the
iterates $\bar{\theta}_t$. The noise of SGD makes $\theta_t$ wander around the minimum; the
average of many such points is much closer to it. For a smooth, strongly convex loss, the average
reaches the best rate any method can have from $t$ noisy gradients, without knowing the
curvature, while the last iterate does not.

`torch.optim.ASGD` follows the form in [*Towards Optimal One Pass Large Scale Learning with
Averaged Stochastic Gradient Descent*](https://arxiv.org/abs/1107.2490) by Xu (2011). With
learning rate $\alpha$, decay $\lambda$, power $p$ (torch's `alpha`: on this site $\alpha$ is the
learning rate) and the step $t_0$ at which averaging starts:

\begin{align}
\theta_t &\leftarrow \theta_{t-1} (1 - \lambda \alpha_t) - \alpha_t \, g_t \\
\bar{\theta}_t &\leftarrow \bar{\theta}_{t-1} + \omega_t (\theta_t - \bar{\theta}_{t-1}) \\
\alpha_{t+1} &= \frac{\alpha}{(1 + \lambda \alpha t)^{p}} \\
\omega_{t+1} &= \frac{1}{\max(1, t - t_0)}
\end{align}

starting from $\alpha_1 = \alpha$ and $\omega_1 = 1$. Up to step $t_0 + 2$, $\omega_t = 1$ and the "average"
is the last iterate; from there on, $\omega_t$ is $\frac{1}{2}, \frac{1}{3}, \dots$ and $\bar{\theta}_t$
is the plain mean of the iterates since step $t_0 + 2$. (`torch.optim.ASGD` keeps $\alpha_t$ and
$\omega_t$ in `float32` tensors; we round them to `float32` too, so that the two agree exactly.)

## What the average is for

The optimizer updates and returns $\theta_t$, as every optimizer does; the average lives in its
state, as `ax`, and it is the user's to copy into the model for evaluation:

```python
with torch.no_grad():
    for param in model.parameters():
        param.copy_(optimizer.state[param]['ax'])
```

With the default $t_0 = 10^6$, averaging starts late in any short run; set `t0` to the step after
which the iterates have settled, for example the end of a warm-up. $\lambda$ is a decay towards
zero, applied to $\theta$ like [decoupled weight decay](optimizer.html#WeightDecay) scaled by the
current rate, and it also sets how fast $\alpha_t$ decays.
"""

from typing import Any, Dict, Optional

import torch
from torch import nn

from labml_opt.optimizer import GenericAdaptiveOptimizer, Numbers, Params, WeightDecay


def float32(value: float) -> float:
    """`value` rounded to `float32`, as `torch.optim.ASGD` rounds $\\alpha_t$ and $\\omega_t$ by keeping them in 0-d tensors."""
    return torch.tensor(value, dtype=torch.float32).item()


class ASGD(GenericAdaptiveOptimizer):
    """
    ## ASGD optimizer

    A drop-in replacement for `torch.optim.ASGD`: the same arguments, defaults, update and state.
    """

    def __init__(self, params: Params, lr: float = 1e-2, lambd: float = 1e-4, alpha: float = 0.75,
                 t0: float = 1e6, weight_decay: float = 0, foreach: Optional[bool] = None, maximize: bool = False,
                 differentiable: bool = False, capturable: bool = False):
        r"""
        * `lr` is $\alpha$
        * `lambd` is $\lambda$, the decay of $\theta$ and of the learning rate
        * `alpha` is $p$, the power of the learning rate's decay
        * `t0` is $t_0$, the step from which the iterates are averaged
        * `weight_decay` is $w$, an $L_2$ coefficient added to the gradient, as in `torch.optim.ASGD`
        * `maximize` ascends the objective instead of descending it
        * `foreach`, `differentiable` and `capturable` are torch's implementation keywords; see
          [`implementation_options`](optimizer.html#GenericAdaptiveOptimizer)
        """
        self.weight_decay = WeightDecay(weight_decay, weight_decouple=False)
        defaults = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay, maximize=maximize,
                        **self.implementation_options(foreach, differentiable, capturable))
        super().__init__(params, defaults)

    def init_state(self, state: Dict[str, Any], group: Dict[str, Any], param: nn.Parameter):
        r"""
        ### Initialize the state of a parameter

        * `step` is $t$
        * `eta` is $\alpha_t$ and `mu` is $\omega_t$, the numbers of the next step
        * `ax` is $\bar{\theta}_t$, the average of the iterates
        """
        state['step'] = 0
        state['eta'] = float32(group['lr'])
        state['mu'] = 1.
        state['ax'] = torch.zeros_like(param, memory_format=torch.preserve_format)

    def step_numbers(self, state: Dict[str, Any], group: Dict[str, Any]) -> Numbers:
        r"""
        ### The numbers of step $t$

        This step's $\alpha_t$ and $\omega_t$, which the last step computed; and, for the next step,
        $\alpha_{t+1}$ and $\omega_{t+1}$.
        """
        state['step'] += 1
        step, eta, mu = state['step'], state['eta'], state['mu']
        lr, lambd = group['lr'], group['lambd']
        # $\alpha_{t+1} = \frac{\alpha}{(1 + \lambda \alpha t)^{p}}$
        state['eta'] = float32(lr / ((1 + lambd * lr * step) ** group['alpha']))
        # $\omega_{t+1} = \frac{1}{\max(1, t - t_0)}$
        state['mu'] = float32(1 / max(1, step - group['t0']))
        return Numbers(self.weight_decay.numbers(group), eta=eta, mu=mu, averaging=mu != 1,
                       shrink=1 - lambd * eta)

    def step_param(self, state: Dict[str, Any], numbers: Numbers, grad: torch.Tensor, param: nn.Parameter):
        r"""
        ### Update one parameter

        * `grad` is $g_t$
        """
        # $L_2$ decay, if `weight_decay` is set: $g_t \leftarrow g_t + w \theta_{t-1}$
        grad = self.weight_decay(param, grad, numbers)
        # $\theta_t \leftarrow \theta_{t-1} (1 - \lambda \alpha_t) - \alpha_t \, g_t$
        param.mul_(numbers.shrink).sub_(numbers.eta * grad)
        ax = state['ax']
        if numbers.averaging:
            # $\bar{\theta}_t \leftarrow \bar{\theta}_{t-1} + \omega_t (\theta_t - \bar{\theta}_{t-1})$
            ax.add_((param - ax) * numbers.mu)
        else:
            # $\omega_t = 1$: the average is the last iterate
            ax.copy_(param)
