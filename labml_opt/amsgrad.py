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
is plain Adam. Since `torch.optim.Adam` takes `amsgrad=True`, so does [ours](adam.html), and the
maximum lives there, in Adam's `get_mv`: this class is Adam with the flag on by default, and the
code that keeps $v^{\max}_t$ is the same for both. [RAdam](radam.html) and
[AdaBelief](ada_belief.html) extend this class and turn the flag off by default.
"""

from typing import Any, Tuple, Union

from labml_opt.optimizer import Params, WeightDecay
from labml_opt.adam import Adam


class AMSGrad(Adam):
    r"""
    ## AMSGrad optimizer

    [Adam](adam.html) with `amsgrad=True` by default: its `init_state` keeps $v^{\max}_t$ in
    `max_exp_avg_sq`, and its `get_mv` hands $v^{\max}_t \leftarrow \max(v^{\max}_{t-1}, v_t)$ to the
    update in place of $v_t$. Nothing else changes.
    """

    def __init__(self, params: Params, lr: float = 1e-3, betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: Union[float, WeightDecay] = 0., amsgrad: bool = True,
                 **kwargs: Any):
        r"""
        The arguments of [Adam](adam.html); `amsgrad` keeps $v^{\max}_t$, and `False` gives plain Adam.
        Like Adam, it takes the [low-precision](low_precision.html) options `state_dtype`, `kahan_sum`
        and `seed`.
        """
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad, **kwargs)
