r"""
---
title: Adadelta optimizer
summary: An annotated PyTorch implementation of Adadelta, which replaces Adagrad's ever-growing sum with moving averages and gives the update the units of the parameters.
---

# Adadelta

[Adagrad](adagrad.html) divides each step by $\sqrt{G_t}$, the root of a sum of squared
gradients that grows without bound, so every learning rate decays towards zero.
Adadelta, from [*ADADELTA: An Adaptive Learning Rate Method*](https://arxiv.org/abs/1212.5701)
by Matthew Zeiler, makes two changes.

## A moving average instead of a sum

The first replaces $G_t$ with an exponential moving average of squared gradients, with decay
rate $\beta_2$ (the paper's and torch's `rho`; $\beta_2$ is its name across [these pages](index.html)):

$$E[g^2]_t = \beta_2 \, E[g^2]_{t-1} + (1 - \beta_2) \, g_t^2$$

Old gradients now fade: the average covers roughly the last $\frac{1}{1 - \beta_2}$ steps, ten with
$\beta_2 = 0.9$. It measures the *recent* size of the gradient, so the rate can shrink while
gradients are large and grow back when they become small, and it no longer dies with time.
Writing $\text{RMS}[x]_t = \sqrt{E[x^2]_t + \epsilon}$, and $\Delta\theta_t$ for the change
that step $t$ makes to $\theta$, this alone gives $\Delta\theta_t = -\frac{\alpha}{\text{RMS}[g]_t} g_t$. That is [RMSprop](rmsprop.html), the next
page, which in fact appeared independently around the same time.

## Getting the units right

The second change is an argument about units. Suppose $\theta$ is measured in metres and the
loss $J$ has no unit. Then the gradient $g = \frac{\partial J}{\partial \theta}$ is in
$\frac{1}{\text{m}}$, and so is SGD's step $-\alpha g$ unless $\alpha$ has a unit: we add a
quantity in $\frac{1}{\text{m}}$ to one in metres, with $\alpha$ silently in $\text{m}^2$ to make it work.
Adagrad's and RMSprop's steps $\frac{g}{\sqrt{E[g^2]}}$ have no unit at all, so their $\alpha$
carries metres. Either way,
a good learning rate depends on how the parameter happens to be scaled.

Newton's method does not have this problem. Its step $-\frac{g}{\partial^2 J / \partial \theta^2}$
has units of $\frac{1 / \text{m}}{1 / \text{m}^2} = \text{m}$. Rearranging a Newton step shows
what the missing factor is:

$$\Delta\theta = -\frac{g}{\partial^2 J / \partial \theta^2}
  \quad \Longrightarrow \quad
  \frac{1}{\partial^2 J / \partial \theta^2} = -\frac{\Delta\theta}{g}$$

Adadelta estimates this ratio per parameter from quantities it can track: the recent size of the
updates in the numerator, the recent size of the gradients in the denominator. The current update
is not known yet, so the numerator uses the average up to the previous step. With
$\Delta\theta_t$ the change of step $t$, minus sign included, as above and in the paper:

\begin{align}
E[g^2]_t &\leftarrow \beta_2 \, E[g^2]_{t-1} + (1 - \beta_2) \, g_t^2 \\
\Delta\theta_t &\leftarrow -\frac{\sqrt{E[\Delta\theta^2]_{t-1} + \epsilon}}{\sqrt{E[g^2]_t + \epsilon}} \, g_t \\
E[\Delta\theta^2]_t &\leftarrow \beta_2 \, E[\Delta\theta^2]_{t-1} + (1 - \beta_2) \, \Delta\theta_t^2 \\
\theta_t &\leftarrow \theta_{t-1} + \alpha \, \Delta\theta_t
\end{align}

The step is now in metres over $\frac{1}{\text{m}}$ times $\frac{1}{\text{m}}$: metres, the units
of $\theta$. The paper has no learning rate at all; PyTorch keeps one, with default $\alpha = 1$,
which recovers the paper. With any other $\alpha$, note that $E[\Delta\theta^2]$ tracks the update
*before* scaling by $\alpha$, as in PyTorch.

Here $\epsilon$ is inside both roots and does real work: $E[\Delta\theta^2]_0 = 0$, so the first
step is $\alpha$ (by default $1$) times $\lvert \Delta\theta_1 \rvert = \frac{\sqrt{\epsilon}}{\sqrt{(1 - \beta_2) g_1^2 + \epsilon}} \lvert g_1 \rvert$,
which is $\sqrt{\epsilon / (1 - \beta_2)} \approx 3.2 \sqrt{\epsilon}$ for any gradient much larger
than $\sqrt{\epsilon}$, with $\beta_2 = 0.9$ ($3.2 \cdot 10^{-3}$ with torch's $\epsilon = 10^{-6}$).
The next steps grow out of that size, and $\epsilon$ keeps a parameter that has stopped moving
from being stuck forever. That is why PyTorch's default $\epsilon = 10^{-6}$ is much
larger than Adagrad's.

It is also where the units went. Under the numerator's root, $\epsilon$ is added to a squared
update, so it is measured in $\text{m}^2$: it is the one hyper-parameter that still depends on
how the parameters are scaled. The step never depends on the scale of the gradient, so the
sizes of the updates grow out of $\sqrt{\epsilon}$. Measure $\theta$ in centimetres instead of
metres and scale $\epsilon$ by $10^4$ to match, and the whole run is the same run, in centimetres
(as long as $\epsilon$ stays small next to $E[g^2]_t$ in the denominator, where the same
$\epsilon$ has the wrong units). SGD would need $\alpha$ scaled by $10^4$ for that, RMSprop by $10^2$.
"""

from typing import Any, Dict, Optional, Union

import torch
from torch import nn

from labml_opt.optimizer import GenericAdaptiveOptimizer, Numbers, Params, WeightDecay, as_weight_decay


class Adadelta(GenericAdaptiveOptimizer):
    """
    ## Adadelta optimizer

    A drop-in replacement for `torch.optim.Adadelta`: the same arguments, defaults, update and state.
    """

    def __init__(self, params: Params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: Union[float, WeightDecay] = 0., *, maximize: bool = False,
                 foreach: Optional[bool] = None, capturable: bool = False, differentiable: bool = False,
                 state_dtype: Optional[torch.dtype] = None, kahan_sum: bool = False, seed: int = 0):
        r"""
        * `params` is the list of parameters, or of param groups
        * `lr` is $\alpha$; the default $1$ is the paper's algorithm
        * `rho` is the decay rate $\beta_2$ of both moving averages
        * `eps` is $\epsilon$
        * `weight_decay` is $\lambda$: a float means $L_2$ regularization, as in `torch.optim.Adadelta`;
          pass a [`WeightDecay`](optimizer.html#WeightDecay) for another rule
        * `maximize` ascends the objective instead of descending it
        * `foreach`, `capturable` and `differentiable` are torch's implementation keywords; see
          [`implementation_options`](optimizer.html#GenericAdaptiveOptimizer)
        * `state_dtype`, `kahan_sum` and `seed` keep the state in `torch.bfloat16`, or add to a
          `bfloat16` parameter with Kahan summation, as [low-precision state](low_precision.html) explains
        """
        self.weight_decay = as_weight_decay(weight_decay, decoupled=False)
        defaults = dict(**self.weight_decay.defaults(), lr=lr, rho=rho, eps=eps, maximize=maximize)
        self.check('rho', rho, 0 <= rho <= 1, 'in [0, 1]')
        defaults.update(self.implementation_options(foreach, differentiable, capturable))
        super().__init__(params, defaults, state_dtype=state_dtype, kahan_sum=kahan_sum, seed=seed)

    def init_state(self, state: Dict[str, Any], group: Dict[str, Any], param: nn.Parameter):
        r"""
        ### Initialize the state of a parameter

        * `step` counts updates; Adadelta does not use it, but PyTorch saves it, and keeping it
          lets state dicts load both ways
        * `square_avg` is $E[g^2]_t$
        * `acc_delta` is $E[\Delta\theta^2]_t$
        """
        state['step'] = 0
        state['square_avg'] = torch.zeros_like(param, memory_format=torch.preserve_format)
        state['acc_delta'] = torch.zeros_like(param, memory_format=torch.preserve_format)

    def step_numbers(self, state: Dict[str, Any], group: Dict[str, Any]) -> Numbers:
        """
        ### The numbers of a step

        The group's hyper-parameters as they are, and the step counted.
        """
        state['step'] += 1
        return Numbers(self.weight_decay.numbers(group), lr=group['lr'], rho=group['rho'], eps=group['eps'])

    def step_param(self, state: Dict[str, Any], numbers: Numbers, grad: torch.Tensor, param: nn.Parameter):
        """
        ### Update one parameter

        * `grad` is $g_t$, the gradient of the loss with respect to `param`
        """
        rho, eps = numbers.rho, numbers.eps
        square_avg, acc_delta = state['square_avg'], state['acc_delta']
        # $g_t \leftarrow g_t + \lambda \theta_{t-1}$
        grad = self.weight_decay(param, grad, numbers)
        # $E[g^2]_t \leftarrow \beta_2 \, E[g^2]_{t-1} + (1 - \beta_2) \, g_t^2$, with $\beta_2$ = `rho`
        square_avg.mul_(rho).addcmul_(grad, grad * (1 - rho))
        # $\text{RMS}[g]_t = \sqrt{E[g^2]_t + \epsilon}$
        rms_grad = (square_avg + eps).sqrt()
        # $-\Delta\theta_t = \frac{\text{RMS}[\Delta\theta]_{t-1}}{\text{RMS}[g]_t} g_t$, the step before its sign
        delta = (acc_delta + eps).sqrt() / rms_grad * grad
        # $E[\Delta\theta^2]_t \leftarrow \beta_2 \, E[\Delta\theta^2]_{t-1} + (1 - \beta_2) \, \Delta\theta_t^2$
        acc_delta.mul_(rho).addcmul_(delta, delta * (1 - rho))
        # $\theta_t \leftarrow \theta_{t-1} + \alpha \, \Delta\theta_t$
        param.sub_(numbers.lr * delta)

# ## Next
#
# Keep Adadelta's moving average of squared gradients, drop the second average, and keep a
# learning rate: that is [RMSprop](rmsprop.html), the direct parent of Adam's second moment.
