r"""
---
title: AdaBelief optimizer
summary: An annotated PyTorch implementation of AdaBelief, which scales each step by how far the gradient strays from its own moving average.
---

# AdaBelief

AdaBelief comes from [*AdaBelief Optimizer: Adapting Stepsizes by the Belief in Observed
Gradients*](https://arxiv.org/abs/2010.07468) by Zhuang et al. (2020). It replaces
[Adam](adam.html)'s moving average of $g_t^2$ with a moving average of $(g_t - m_t)^2$. The
prediction of $g_t$ is $m_{t-1}$, the momentum before $g_t$ arrived, and since
$g_t - m_t = \beta_1 (g_t - m_{t-1})$, this is $\beta_1^2$ times the squared distance between the
gradient and its prediction.

\begin{align}
m_t &\leftarrow \beta_1 m_{t-1} + (1 - \beta_1) g_t \\
s_t &\leftarrow \beta_2 s_{t-1} + (1 - \beta_2) (g_t - m_t)^2 + \epsilon \\
\hat{m}_t &\leftarrow \frac{m_t}{1 - \beta_1^t} \\
\hat{s}_t &\leftarrow \frac{s_t}{1 - \beta_2^t} \\
\theta_t &\leftarrow \theta_{t-1} - \alpha \frac{\hat{m}_t}{\sqrt{\hat{s}_t} + \epsilon}
\end{align}

This is the paper's Algorithm 2. $\epsilon$ appears twice: inside $s_t$, where it keeps
$s_t$ from reaching zero when the gradient is perfectly predictable, and again in the
denominator. Because $s_t$ can be much smaller than Adam's $v_t$, the authors recommend a much
smaller $\epsilon$ (they use $10^{-16}$), which is our default.

## Why it works

$m_{t-1}$ is a prediction of the gradient $g_t$, and $s_t$ measures how wrong that prediction
has been, scaled by $\beta_1^2$: it estimates the *variance* of the gradient, where Adam's $v_t$
estimates its second moment. The two differ exactly where it matters.

* Where the loss is steep but smoothly curved, gradients are large and consistent. Adam sees a
  large $v_t$ and takes small steps; AdaBelief sees a small $s_t$ (the gradient is as predicted)
  and takes large ones, as an optimizer that knew the curvature would.
* Where gradients flip sign from step to step, oscillating across a valley, $(g_t - m_t)^2$ is
  large, and AdaBelief steps carefully across the valley while moving freely along it.
* Where gradients are small and noisy, $s_t$ is about as large as $v_t$ and the two behave alike.

The authors report Adam-like speed with generalization close to SGD's, and stable GAN training.

## Options

* `rectify` applies [RAdam](radam.html)'s variance rectification to $s_t$ in place of $v_t$,
  with RAdam's placement of $\epsilon$ ($\sqrt{s_t} + \epsilon$, before bias correction) and its
  SGD-with-momentum steps while $\rho_t \le 5$. The authors' implementation does this by default,
  and so do we.
* `amsgrad` divides by $\sqrt{s^{\max}_t}$, with $s^{\max}_t = \max(s^{\max}_{t-1}, s_t)$, as in
  [AMSGrad](amsgrad.html). The maximum is kept beside $s_t$, which itself carries on as before,
  as in the authors' code. Unlike their code, we also use the maximum when rectifying; theirs
  silently ignores it in that case.
* `decoupled_weight_decay` makes a float `weight_decay` decoupled, as in [AdamW](adamw.html)
  (the authors' default), instead of $L_2$ in the gradient.

The state is named as in the authors' code: `exp_avg_var` for $s_t$ and `max_exp_avg_var` for
$s^{\max}_t$.

labml_nn's AdaBelief passes its arguments to RAdam by position, one place off, and so runs
the AMSGrad variant whatever it is asked for. Ours passes every argument by keyword, and its
tests check each combination of flags against the paper's algorithm.
"""

from typing import Any, Dict, Optional, Tuple, Union

import torch
from torch import nn

from labml_opt.optimizer import Numbers, Params, WeightDecay
from labml_opt.adam import Adam
from labml_opt.radam import RAdam


class AdaBelief(RAdam):
    """
    ## AdaBelief optimizer

    It overrides `init_state` and `get_mv`, which compute $s_t$ in place of $v_t$, and
    `step_numbers` and `adam_update`, which choose between [RAdam](radam.html)'s rectified step and
    [Adam](adam.html)'s.
    """

    # In 8 bits, $m_t$ in the signed code map, and $s_t$ and $s^{\max}_t$, never negative, in the
    # unsigned one (see [low-precision state](low_precision.html#blockwise))
    quantized_state = {'exp_avg': 'signed', 'exp_avg_var': 'unsigned', 'max_exp_avg_var': 'unsigned'}

    def __init__(self, params: Params, lr: float = 1e-3, betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-16, weight_decay: Union[float, WeightDecay] = 0.,
                 decoupled_weight_decay: bool = True, amsgrad: bool = False, rectify: bool = True,
                 optimized_update: bool = True, maximize: bool = False,
                 defaults: Optional[Dict[str, Any]] = None, **implementation: Any):
        r"""
        * `params` is the list of parameters, or of param groups
        * `lr` is the learning rate $\alpha$
        * `betas` is the pair $(\beta_1, \beta_2)$
        * `eps` is $\epsilon$, added to $s_t$ and to the denominator
        * `weight_decay` is $\lambda$, a float or a [`WeightDecay`](optimizer.html#WeightDecay)
        * `decoupled_weight_decay` makes a float `weight_decay` decoupled rather than $L_2$
        * `amsgrad` divides by $\sqrt{s^{\max}_t}$
        * `rectify` takes [RAdam](radam.html)'s rectified step instead of Adam's
        * `optimized_update` folds bias correction into the step size, as in [Adam](adam.html)
        * `maximize` ascends the objective instead of descending it
        * `defaults` holds extra group defaults from subclasses
        * `**implementation` are torch's keywords `foreach`, `fused`, `capturable` and `differentiable`,
          and the [low-precision](low_precision.html) options `state_dtype`, `kahan_sum` and `seed`,
          passed to [RAdam](radam.html) and so to [Adam](adam.html)
        """
        # `rectify` is a key of each param group, like `amsgrad`, so a saved group brings its own back
        defaults = dict(defaults or {}, rectify=rectify)
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         decoupled_weight_decay=decoupled_weight_decay, amsgrad=amsgrad,
                         optimized_update=optimized_update, maximize=maximize, defaults=defaults, **implementation)

    def init_state(self, state: Dict[str, Any], group: Dict[str, Any], param: nn.Parameter):
        r"""
        ### Initialize the state of a parameter

        * `step` is $t$
        * `exp_avg` is $m_t$
        * `exp_avg_var` is $s_t$
        * `max_exp_avg_var` is $s^{\max}_t$, kept only with `amsgrad`
        """
        state['step'] = 0
        state['exp_avg'] = torch.zeros_like(param, memory_format=torch.preserve_format)
        state['exp_avg_var'] = torch.zeros_like(param, memory_format=torch.preserve_format)
        if group['amsgrad']:
            state['max_exp_avg_var'] = torch.zeros_like(param, memory_format=torch.preserve_format)

    def step_numbers(self, state: Dict[str, Any], group: Dict[str, Any]) -> Numbers:
        """[RAdam](radam.html)'s numbers, or, with the group's `rectify` off, [Adam](adam.html)'s."""
        numbers = super().step_numbers(state, group) if group['rectify'] else Adam.step_numbers(self, state, group)
        numbers.update(rectify=group['rectify'])
        return numbers

    def get_mv(self, state: Dict[str, Any], numbers: Numbers, grad: torch.Tensor):
        r"""
        ### Update $m_t$ and $s_t$

        Returns $m_t$ and $s_t$, or $s^{\max}_t$ with `amsgrad`; the update divides by its root.
        """
        m, s = state['exp_avg'], state['exp_avg_var']
        # $m_t \leftarrow \beta_1 m_{t-1} + (1 - \beta_1) g_t$
        m.lerp_(grad, 1 - numbers.beta1)
        # $g_t - m_t = \beta_1 (g_t - m_{t-1})$, $\beta_1$ times how far the gradient is from its prediction $m_{t-1}$
        surprise = grad - m
        # $s_t \leftarrow \beta_2 s_{t-1} + (1 - \beta_2) (g_t - m_t)^2 + \epsilon$
        s.mul_(numbers.beta2).addcmul_(surprise, surprise * (1 - numbers.beta2)).add_(numbers.eps)
        if not numbers.amsgrad:
            return m, s
        s_max = state['max_exp_avg_var']
        # $s^{\max}_t \leftarrow \max(s^{\max}_{t-1}, s_t)$, in place
        s_max.clamp_(min=s)
        return m, s_max

    def adam_update(self, state: Dict[str, Any], numbers: Numbers, param: nn.Parameter,
                    m: torch.Tensor, s: torch.Tensor):
        r"""
        ### Take the step

        * `param` is $\theta_{t-1}$, updated in place to $\theta_t$
        * `m` is $m_t$, and `s` is $s_t$ (or $s^{\max}_t$)

        Both steps only need a second moment to divide by, so $s_t$ goes where they expect $v_t$.
        """
        if numbers.rectify:
            super().adam_update(state, numbers, param, m, s)
        else:
            # $\theta_t \leftarrow \theta_{t-1} - \alpha \frac{\hat{m}_t}{\sqrt{\hat{s}_t} + \epsilon}$
            Adam.adam_update(self, state, numbers, param, m, s)
