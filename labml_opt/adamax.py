r"""
---
title: Adamax optimizer
summary: An annotated PyTorch implementation of Adamax, the infinity-norm variant of Adam.
---

# Adamax

Adamax is proposed in the same paper as Adam,
[*Adam: A Method for Stochastic Optimization*](https://arxiv.org/abs/1412.6980) by Kingma
and Ba (section 7.1). It replaces [Adam](adam.html)'s moving average of $g_t^2$ with an
exponentially decaying maximum of $|g_t|$:

\begin{align}
m_t &\leftarrow \beta_1 m_{t-1} + (1 - \beta_1) g_t \\
u_t &\leftarrow \max(\beta_2 u_{t-1}, |g_t| + \epsilon) \\
\theta_t &\leftarrow \theta_{t-1} - \frac{\alpha}{1 - \beta_1^t} \frac{m_t}{u_t}
\end{align}

## Why the infinity norm

Adam scales each coordinate by an $L^2$ average of its past gradients,
$\left((1 - \beta_2) \sum_i \beta_2^{t-i} g_i^2\right)^{1/2}$. The same can be done with any
$L^p$ norm, $\left((1 - \beta_2^p) \sum_i \beta_2^{p(t-i)} |g_i|^p\right)^{1/p}$, and large $p$ is
usually numerically unstable. As $p \to \infty$, though, the sum is dominated by its largest
term, the factor $(1 - \beta_2^p)^{1/p}$ tends to one, and what is left is

$$u_t = \max(\beta_2^{t-1} |g_1|, \beta_2^{t-2} |g_2|, \dots, |g_t|) = \max(\beta_2 u_{t-1}, |g_t|)$$

a recursion that is simple and stable. Each past gradient's magnitude decays by $\beta_2$ per step
and the step divides by the largest one still standing, so a single large gradient damps the
steps for a while and is then forgotten.

$u_t$ needs no bias correction: zero initialization biases a *sum* towards zero, but a maximum
takes $|g_1|$ at the first step. $m_t$ still starts at zero, so it keeps its correction
$1 - \beta_1^t$.

## Where $\epsilon$ goes

The paper has no $\epsilon$: $u_t$ is zero only if every gradient so far was zero, and then so
is $m_t$. `torch.optim.Adamax` adds $\epsilon$ to $|g_t|$ inside the maximum, so that $u_t \ge
\epsilon$ and $\frac{0}{0}$ cannot occur, and we do the same. This is not the same as dividing by
$u_t + \epsilon$, though both change $u_t$ by at most $\epsilon$ and so only matter for
coordinates whose gradients are about $\epsilon$ in size.

The state `exp_inf` is $u_t$, named as in `torch.optim`, and Adamax keeps no `exp_avg_sq`.
As in torch, a float `weight_decay` is $L_2$ regularization and `lr` defaults to $2 \cdot 10^{-3}$.
"""

from typing import Any, Dict, Optional, Tuple, Union

import torch
from torch import nn

from labml_opt.optimizer import Numbers, Params, WeightDecay
from labml_opt.adam import Adam


class Adamax(Adam):
    """
    ## Adamax optimizer

    It overrides `init_state` and `get_mv`, to keep $u_t$ instead of $v_t$, and `step_numbers` and
    `adam_update`, since the step needs no second bias correction.
    """

    # In 8 bits ([low-precision state](low_precision.html#blockwise)), $u_t$, never negative,
    # takes the unsigned code map
    quantized_state = {'exp_avg': 'signed', 'exp_inf': 'unsigned'}

    def __init__(self, params: Params, lr: float = 2e-3, betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: Union[float, WeightDecay] = 0., maximize: bool = False,
                 defaults: Optional[Dict[str, Any]] = None, **implementation: Any):
        r"""
        * `params` is the list of parameters, or of param groups
        * `lr` is the learning rate $\alpha$
        * `betas` is the pair $(\beta_1, \beta_2)$
        * `eps` is $\epsilon$, added to $|g_t|$ inside the maximum
        * `weight_decay` is $\lambda$: a float means $L_2$ regularization, as in `torch.optim.Adamax`;
          pass a [`WeightDecay`](optimizer.html#WeightDecay) for another rule
        * `maximize` ascends the objective instead of descending it
        * `defaults` holds extra group defaults from subclasses
        * `**implementation` are torch's keywords `foreach`, `fused`, `capturable` and `differentiable`,
          and the [low-precision](low_precision.html) options `state_dtype`, `kahan_sum` and `seed`,
          passed to [Adam](adam.html)

        There is no `optimized_update`: with one bias correction there is nothing to fold.
        """
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         maximize=maximize, defaults=defaults, **implementation)

    def init_state(self, state: Dict[str, Any], group: Dict[str, Any], param: nn.Parameter):
        r"""
        ### Initialize the state of a parameter

        * `step` is $t$
        * `exp_avg` is $m_t$
        * `exp_inf` is $u_t$
        """
        state['step'] = 0
        state['exp_avg'] = torch.zeros_like(param, memory_format=torch.preserve_format)
        state['exp_inf'] = torch.zeros_like(param, memory_format=torch.preserve_format)

    def step_numbers(self, state: Dict[str, Any], group: Dict[str, Any]) -> Numbers:
        r"""Adam's numbers, with the step size $\frac{\alpha}{1 - \beta_1^t}$: $u_t$ needs no bias correction."""
        numbers = super().step_numbers(state, group)
        numbers.update(step_size=numbers.lr / numbers.bias_correction1)
        return numbers

    def get_mv(self, state: Dict[str, Any], numbers: Numbers, grad: torch.Tensor):
        r"""
        ### Update $m_t$ and $u_t$
        """
        m, u = state['exp_avg'], state['exp_inf']
        # $m_t \leftarrow \beta_1 m_{t-1} + (1 - \beta_1) g_t$
        m.lerp_(grad, 1 - numbers.beta1)
        # $u_t \leftarrow \max(\beta_2 u_{t-1}, |g_t| + \epsilon)$, in place
        u.mul_(numbers.beta2).clamp_(min=grad.abs().add_(numbers.eps))
        return m, u

    def adam_update(self, state: Dict[str, Any], numbers: Numbers, param: nn.Parameter,
                    m: torch.Tensor, u: torch.Tensor):
        r"""
        ### Take the Adamax step

        * `param` is $\theta_{t-1}$, updated in place to $\theta_t$
        * `m` and `u` are $m_t$ and $u_t$
        """
        # $\theta_t \leftarrow \theta_{t-1} - \frac{\alpha}{1 - \beta_1^t} \frac{m_t}{u_t}$
        param.sub_(numbers.step_size * m / u)
