r"""
---
title: Rectified Adam (RAdam) optimizer
summary: An annotated PyTorch implementation of RAdam, which scales Adam's step down while its variance estimate is still unreliable.
---

# Rectified Adam (RAdam)

RAdam comes from [*On the Variance of the Adaptive Learning Rate and Beyond*](https://arxiv.org/abs/1908.03265)
by Liu et al. It keeps [Adam](adam.html)'s moving averages and multiplies the step by a
*rectification term* $r_t \le 1$ that is small while $v_t$ has seen few gradients and tends
to one as training goes on. In the first few steps, where no useful $r_t$ exists, it takes a
step of SGD with momentum instead.

## The problem: early adaptive steps are noise

Adam's per-coordinate step size is $\alpha \psi_t$, with the *adaptive rate*
$\psi_t = \frac{1}{\sqrt{\hat{v}_t}}$. Its size is not the problem: at $t = 1$,
$\hat{m}_1 = g_1$ and $\hat{v}_1 = g_1^2$, so Adam's first step is $\alpha \operatorname{sign}(g_1)$
whatever $g_1$ is (as long as $\lvert g_1 \rvert \gg \epsilon$). The problem is its *variance*. Early on, $\hat{v}_t$ averages only a few
squared gradients, so $\psi_t$ is a noisy function of a handful of samples; the paper shows that
its variance is very large in the first steps and shrinks as more gradients are averaged. This is
why Adam often needs a learning-rate warm-up, and the paper argues that warm-up works precisely by
damping these early, high-variance steps. RAdam damps them by the amount the variance calls for.

## Counting how many gradients $v_t$ has averaged

An exponential moving average of $t$ values is treated as a simple moving average of the last
$\rho_t$ of them, choosing $\rho_t$ so that both give the same weight to the recent past (they
have the same centre of mass). This gives

\begin{align}
\rho_\infty &= \frac{2}{1 - \beta_2} - 1 \\
\rho_t &= \rho_\infty - \frac{2 t \beta_2^t}{1 - \beta_2^t}
\end{align}

$\rho_1 = 1$: after one step, $v_t$ is one gradient. $\rho_t$ grows by about one per step at
first and tends to $\rho_\infty$ (1999 for $\beta_2 = 0.999$).

## The rectification term

If the gradients are $\mathcal{N}(0, \sigma^2)$, the mean of $\rho$ squared gradients follows a
scaled $\chi^2$ distribution with $\rho$ degrees of freedom, so $\psi^2$ follows a scaled inverse
$\chi^2$. Its variance exists for $\rho > 2$: $\mathbb{E}[\psi^2] = \frac{\rho}{(\rho - 2) \sigma^2}$
is finite there, and

$$\operatorname{Var}[\psi] = \frac{1}{\sigma^2} \left( \frac{\rho}{\rho - 2}
  - \frac{\rho}{2} \left( \frac{\Gamma((\rho - 1) / 2)}{\Gamma(\rho / 2)} \right)^2 \right)$$

The paper works with a first-order approximation of it,

$$\operatorname{Var}[\psi] \approx \frac{\rho}{2 (\rho - 2)(\rho - 4) \sigma^2}$$

which is only meaningful for $\rho > 4$ (it is negative between $2$ and $4$ and infinite at
$4$); that is what the paper means by the variance being *tractable*. It is close for large
$\rho$ ($2\%$ high at $\rho = 100$) and poor near $4$ ($3.3$ times too large at $\rho = 5$, where
the exact variance is $0.25 / \sigma^2$). Both fall as $\rho$ grows, towards their
smallest value at $\rho_\infty$. Scaling $\psi_t$ by

$$r_t = \sqrt{\frac{\operatorname{Var}[\psi]_{\rho_\infty}}{\operatorname{Var}[\psi]_{\rho_t}}}
      = \sqrt{\frac{(\rho_t - 4)(\rho_t - 2) \rho_\infty}{(\rho_\infty - 4)(\rho_\infty - 2) \rho_t}}$$

gives every step, to first order, the asymptotic variance, the one at $\rho_\infty$. $\sigma$ cancels, so $r_t$ depends only on
$\beta_2$ and $t$, and costs nothing per element.

## The update

\begin{align}
m_t &\leftarrow \beta_1 m_{t-1} + (1 - \beta_1) g_t \\
v_t &\leftarrow \beta_2 v_{t-1} + (1 - \beta_2) g_t^2 \\
\hat{m}_t &\leftarrow \frac{m_t}{1 - \beta_1^t} \\
\theta_t &\leftarrow \begin{cases}
  \theta_{t-1} - \alpha \, r_t \, \hat{m}_t \, \frac{\sqrt{1 - \beta_2^t}}{\sqrt{v_t} + \epsilon} & \text{if } \rho_t > 5 \\
  \theta_{t-1} - \alpha \, \hat{m}_t & \text{otherwise}
\end{cases}
\end{align}

Until the variance is tractable, the step is SGD with (bias-corrected) momentum.

$r_t$ rises slowly. With $\beta_2 = 0.999$ it is $0.026$ at $t = 6$, $0.22$ at $t = 100$, still
below $0.41$ up to $t = 362$, $0.65$ at $t = 1000$ and $0.92$ at $t = 3000$: for the first few
hundred steps RAdam's step is less than half of Adam's, not only in the first handful. The curve
below is measured from this class, whose step with a constant gradient is exactly
$\alpha \, r_t$ (and $\alpha$ in the SGD steps), by `python -m labml_opt.figures`;
`tests/optimizers/test_radam.py` checks it against the formula.

![RAdam's rectification term over the first 3000 steps, for beta2 = 0.999 and 0.99](figures/radam_rectification.svg) Note that this
step is in the units of the gradient, not of $\alpha$: with gradients far from unit size, a
learning rate tuned for the adaptive steps can be much too large or too small for these few.

## Choices that differ between implementations

**The threshold.** The variance of $\psi$ is finite for $\rho_t > 2$, and its first-order
approximation, on which $r_t$ rests, for $\rho_t > 4$; the paper's algorithm rectifies from there. The authors' code, and labml_nn, use $\rho_t \ge 5$, a margin because the
approximations above are poor where the variance blows up. `torch.optim.RAdam` uses $\rho_t > 5$,
and so do we, so that the two agree step for step. For whole steps $t$, $\rho_t$ is not exactly
5 in practice, so $\ge 5$ and $> 5$ agree. The paper's $> 4$ differs by one step: with
$\beta_2 = 0.999$, $\rho_5 \approx 4.996$, so the paper already takes an adaptive step at $t = 5$
(with $r_5 \approx 0.017$), while we take a fifth SGD step and rectify from $t = 6$
($\rho_6 \approx 5.994$, $r_6 \approx 0.026$).

**Where $\epsilon$ goes.** The paper has no $\epsilon$. `torch.optim.RAdam` adds it to
$\sqrt{v_t}$ *before* bias correction, as written above, and we follow it. The optimized update
is then the formula as written. The textbook form, which divides by $\sqrt{\hat{v}_t}$, must use
$\frac{\epsilon}{\sqrt{1-\beta_2^t}}$ to be the same update; this is the mirror image of
[Adam's $\hat{\epsilon}$](adam.html):

$$\frac{\sqrt{1-\beta_2^t}}{\sqrt{v_t} + \epsilon} = \frac{1}{\sqrt{\hat{v}_t} + \epsilon / \sqrt{1-\beta_2^t}}$$

**Weight decay.** As in `torch.optim.RAdam`, a float `weight_decay` is $L_2$ regularization,
and `decoupled_weight_decay=True` makes it decoupled, as in [AdamW](adamw.html).

**AMSGrad.** This class extends [AMSGrad](amsgrad.html), so `amsgrad=True` divides by
$\sqrt{v^{\max}_t}$ instead of $\sqrt{v_t}$. `torch.optim.RAdam` has no such option.
"""

import math
from typing import Any, Dict, Optional, Tuple, Union

import torch
from torch import nn

from labml_opt.optimizer import Numbers, Params, WeightDecay, as_weight_decay
from labml_opt.amsgrad import AMSGrad


class RAdam(AMSGrad):
    """
    ## RAdam optimizer

    It overrides `step_numbers` and `adam_update`; the moments come from [AMSGrad](amsgrad.html)'s `get_mv`.
    """

    def __init__(self, params: Params, lr: float = 1e-3, betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: Union[float, WeightDecay] = 0.,
                 decoupled_weight_decay: bool = False, amsgrad: bool = False,
                 optimized_update: bool = True, maximize: bool = False,
                 defaults: Optional[Dict[str, Any]] = None, **implementation: Any):
        r"""
        * `params` is the list of parameters, or of param groups
        * `lr` is the learning rate $\alpha$
        * `betas` is the pair $(\beta_1, \beta_2)$
        * `eps` is $\epsilon$, added to $\sqrt{v_t}$ as in `torch.optim.RAdam`
        * `weight_decay` is $\lambda$, a float or a [`WeightDecay`](optimizer.html#WeightDecay)
        * `decoupled_weight_decay` makes a float `weight_decay` decoupled, as in [AdamW](adamw.html),
          instead of $L_2$
        * `amsgrad` divides by $\sqrt{v^{\max}_t}$, as in [AMSGrad](amsgrad.html)
        * `optimized_update` computes the update as written above rather than in its textbook form
        * `maximize` ascends the objective instead of descending it
        * `defaults` holds extra group defaults from subclasses
        * `**implementation` are torch's keywords `foreach`, `fused`, `capturable` and `differentiable`,
          and the [low-precision](low_precision.html) options `state_dtype`, `kahan_sum` and `seed`,
          passed to [Adam](adam.html)
        """
        super().__init__(params, lr=lr, betas=betas, eps=eps,
                         weight_decay=as_weight_decay(weight_decay, decoupled=decoupled_weight_decay),
                         amsgrad=amsgrad, optimized_update=optimized_update, maximize=maximize,
                         defaults=defaults, **implementation)

    @staticmethod
    def rectification(beta2: float, step: int) -> Optional[float]:
        r"""
        ### The rectification term $r_t$

        `None` while $\rho_t \le 5$, when the variance of the adaptive step is not tractable.
        """
        # $\rho_\infty = \frac{2}{1 - \beta_2} - 1$
        rho_inf = 2 / (1 - beta2) - 1
        # $\rho_t = \rho_\infty - \frac{2 t \beta_2^t}{1 - \beta_2^t}$
        beta2_t = beta2 ** step
        rho_t = rho_inf - 2 * step * beta2_t / (1 - beta2_t)
        # `torch.optim.RAdam`'s threshold; see above for how it differs from the paper's $\rho_t > 4$
        if rho_t <= 5:
            return None
        # $r_t = \sqrt{\frac{(\rho_t - 4)(\rho_t - 2) \rho_\infty}{(\rho_\infty - 4)(\rho_\infty - 2) \rho_t}}$
        return math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))

    def step_numbers(self, state: Dict[str, Any], group: Dict[str, Any]) -> Numbers:
        r"""
        ### The numbers of step $t$

        [Adam's](adam.html), with the step size of RAdam's step: whether $r_t$ exists
        (`rectified`), and the factor on $m_t$ in either case.
        """
        numbers = super().step_numbers(state, group)
        r = self.rectification(numbers.beta2, int(state['step']))
        numbers.update(rectified=r is not None)
        if r is None:
            # $\frac{\alpha}{1-\beta_1^t}$, for SGD with momentum
            numbers.update(step_size=numbers.lr / numbers.bias_correction1)
        elif self.optimized_update:
            # $\alpha \, r_t \frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t}$
            numbers.update(step_size=numbers.lr * r * numbers.sqrt_bias_correction2 / numbers.bias_correction1)
        else:
            # $\frac{\alpha \, r_t}{1-\beta_1^t}$
            numbers.update(step_size=numbers.lr * r / numbers.bias_correction1)
        return numbers

    def adam_update(self, state: Dict[str, Any], numbers: Numbers, param: nn.Parameter,
                    m: torch.Tensor, v: torch.Tensor):
        r"""
        ### Take the RAdam step

        * `param` is $\theta_{t-1}$, updated in place to $\theta_t$
        * `m` is $m_t$, and `v` is $v_t$ (or $v^{\max}_t$ with AMSGrad)
        """
        if not numbers.rectified:
            # SGD with momentum: $\theta_t \leftarrow \theta_{t-1} - \alpha \hat{m}_t$
            param.sub_(numbers.step_size * m)
            return
        if self.optimized_update:
            # $\sqrt{v_t} + \epsilon$
            denominator = v.sqrt() + numbers.eps
        else:
            # $\sqrt{\hat{v}_t} + \frac{\epsilon}{\sqrt{1-\beta_2^t}} = \frac{\sqrt{v_t} + \epsilon}{\sqrt{1-\beta_2^t}}$
            denominator = (v.sqrt() + numbers.eps) / numbers.sqrt_bias_correction2
        # $\theta_t \leftarrow \theta_{t-1} - \alpha \, r_t \frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t}
        #   \cdot \frac{m_t}{\sqrt{v_t} + \epsilon}$, or
        #   $\theta_{t-1} - \alpha \, r_t \frac{\hat{m}_t}{\sqrt{\hat{v}_t} + \epsilon / \sqrt{1-\beta_2^t}}$
        param.sub_(numbers.step_size * m / denominator)
