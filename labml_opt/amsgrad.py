r"""
---
title: AMSGrad optimizer
summary: An annotated PyTorch implementation of AMSGrad, the Adam variant that never lets its denominator shrink.
---

# AMSGrad

AMSGrad comes from [*On the Convergence of Adam and Beyond*](https://arxiv.org/abs/1904.09237)
by Reddi, Kale and Kumar. It changes one line of [Adam](adam.html): the step is divided by the
largest second-moment estimate seen so far instead of the current one.

\begin{align}
m_t &\leftarrow \beta_1 m_{t-1} + (1 - \beta_1) g_t \\
v_t &\leftarrow \beta_2 v_{t-1} + (1 - \beta_2) g_t^2 \\
v^{\max}_t &\leftarrow \max(v^{\max}_{t-1}, v_t) \\
\theta_t &\leftarrow \theta_{t-1} - \alpha \frac{\hat{m}_t}{\sqrt{v^{\max}_t / (1 - \beta_2^t)} + \epsilon}
\end{align}

with $\hat{m}_t = \frac{m_t}{1 - \beta_1^t}$ as in Adam. The maximum is taken over the raw
$v_t$, and the bias correction is applied afterwards, as `torch.optim.Adam(amsgrad=True)` does.

## Why it works

The paper builds a simple convex problem on which Adam converges to the wrong point. A gradient
that is large but rare, say once every few steps, is the one that points the right way; the
frequent small gradients point the other way. Adam's $v_t$ rises when the large gradient
arrives and then decays, with $\beta_2$, over the following steps. The large gradient is
therefore divided by a large $\sqrt{v_t}$, and the small ones by a small one: the step size
$\frac{\alpha}{\sqrt{v_t}}$ grows between the rare informative gradients, and the many small
wrong-way steps outweigh the one right-way step.

Adam's convergence proof needs the effective step size $\frac{\alpha_t}{\sqrt{v_t}}$ to shrink
over time, and this example breaks that. The paper's Algorithm 2 keeps $v^{\max}_t$, which can only
grow, and has **no bias correction**: its effective step size $\frac{\alpha_t}{\sqrt{v^{\max}_t}}$
can only shrink, for a non-increasing $\alpha_t$, and that is what its proof uses.

The form implemented here, and in `torch.optim`, corrects the bias *after* the maximum, dividing by
$\sqrt{v^{\max}_t / (1 - \beta_2^t)}$. The correction $\frac{1}{1 - \beta_2^t}$ falls towards one,
so with a constant $\alpha$ the effective step size $\alpha \sqrt{1 - \beta_2^t} / \sqrt{v^{\max}_t}$
*grows* for as long as $v^{\max}_t$ stays put. Take one gradient of $1$ and then gradients of
$0.01$, with $\alpha = 10^{-3}$ and $\beta_2 = 0.999$. $v_t$ never again exceeds $v_1 = 10^{-3}$, so
$v^{\max}_t = 10^{-3}$ for good, and the effective step size is
$\alpha \sqrt{(1 - \beta_2^t) / (1 - \beta_2)}$: $10^{-3}$ at $t = 1$, $9.8 \cdot 10^{-3}$ at
$t = 100$, $3.1 \cdot 10^{-2}$ at $t = 3000$, on its way to $\alpha / \sqrt{1 - \beta_2} \approx 3.2 \cdot 10^{-2}$,
the constant of Algorithm 2. Adam, for comparison, lets $v_t$ fall to $10^{-4}$ and ends at
$\alpha / 10^{-2} = 0.1$.

![The effective step size of AMSGrad with and without bias correction, and of Adam, after one gradient of 1 and then gradients of 0.01](figures/amsgrad_effective_step_size.svg)

So what the maximum guarantees in the implemented form is weaker: the effective step size never
exceeds $\frac{\alpha}{\sqrt{v^{\max}_t}}$, which cannot grow, where Adam's grows as $v_t$
decays, without limit if the gradients vanish. It grows only through the bias correction: $1 - \beta_2^t$ is within $1\%$ of one after
$\ln 0.01 / \ln \beta_2 \approx 4600$ steps. The curves are drawn by
`python -m labml_opt.figures` from this class, and `tests/optimizers/test_amsgrad.py` checks them
against the closed forms.

The cost is one more tensor of state per parameter, `max_exp_avg_sq`, named as in `torch.optim`
so that their `state_dict`s load into ours.

The `amsgrad` flag lives in each param group, as in `torch.optim`, so `AMSGrad(amsgrad=False)`
is plain Adam. [RAdam](radam.html) and [AdaBelief](ada_belief.html) extend this class and turn
the flag off by default.
"""

from typing import Any, Dict, Optional, Tuple, Union

import torch
from torch import nn

from labml_opt.optimizer import Numbers, Params, WeightDecay
from labml_opt.adam import Adam


class AMSGrad(Adam):
    r"""
    ## AMSGrad optimizer

    It overrides `init_state`, to keep $v^{\max}_t$, `step_numbers`, to say whether the group keeps
    it, and `get_mv`, to hand it to [Adam's update](adam.html) in place of $v_t$. Nothing else changes.
    """

    def __init__(self, params: Params, lr: float = 1e-3, betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: Union[float, WeightDecay] = 0., amsgrad: bool = True,
                 optimized_update: bool = True, maximize: bool = False,
                 defaults: Optional[Dict[str, Any]] = None, **implementation: Any):
        r"""
        * `params` is the list of parameters, or of param groups
        * `lr` is the learning rate $\alpha$
        * `betas` is the pair $(\beta_1, \beta_2)$
        * `eps` is $\epsilon$
        * `weight_decay` is $\lambda$: a float means $L_2$ regularization, as in `torch.optim.Adam`;
          pass a [`WeightDecay`](optimizer.html#WeightDecay) for another rule
        * `amsgrad` keeps $v^{\max}_t$; `False` gives plain [Adam](adam.html)
        * `optimized_update` folds bias correction into the step size, as in [Adam](adam.html)
        * `maximize` ascends the objective instead of descending it
        * `defaults` holds extra group defaults from subclasses
        * `**implementation` are torch's keywords `foreach`, `fused`, `capturable` and `differentiable`,
          and the [low-precision](low_precision.html) options `state_dtype`, `kahan_sum` and `seed`,
          passed to [Adam](adam.html)
        """
        defaults = {} if defaults is None else defaults
        defaults = dict(defaults, amsgrad=amsgrad)
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         optimized_update=optimized_update, maximize=maximize, defaults=defaults, **implementation)

    def init_state(self, state: Dict[str, Any], group: Dict[str, Any], param: nn.Parameter):
        r"""
        ### Initialize the state of a parameter

        Adam's state, plus `max_exp_avg_sq`, which is $v^{\max}_t$, when the group uses AMSGrad.
        """
        super().init_state(state, group, param)
        if group['amsgrad']:
            state['max_exp_avg_sq'] = torch.zeros_like(param, memory_format=torch.preserve_format)

    def step_numbers(self, state: Dict[str, Any], group: Dict[str, Any]) -> Numbers:
        r"""Adam's numbers, and whether this group keeps $v^{\max}_t$."""
        numbers = super().step_numbers(state, group)
        numbers.update(amsgrad=group['amsgrad'])
        return numbers

    def get_mv(self, state: Dict[str, Any], numbers: Numbers, grad: torch.Tensor):
        r"""
        ### $m_t$ and the second moment the step divides by

        Returns $m_t$ and $v^{\max}_t$, or Adam's $m_t$ and $v_t$ when `amsgrad` is off.
        """
        m, v = super().get_mv(state, numbers, grad)
        if not numbers.amsgrad:
            return m, v
        v_max = state['max_exp_avg_sq']
        # $v^{\max}_t \leftarrow \max(v^{\max}_{t-1}, v_t)$, in place
        torch.maximum(v_max, v, out=v_max)
        return m, v_max
