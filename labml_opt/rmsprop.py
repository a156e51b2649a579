r"""
---
title: RMSprop optimizer
summary: An annotated PyTorch implementation of RMSprop, with its centered variant and momentum, the step between Adagrad and Adam.
---

# RMSprop

RMSprop was never published as a paper; Geoffrey Hinton proposed it in
[lecture 6e of his Coursera course](https://www.cs.toronto.edu/~tijmen/csc321/slides/lecture_slides_lec6.pdf).
It keeps [Adagrad](adagrad.html)'s idea, a learning rate per parameter scaled by the size of
that parameter's gradients, and fixes its flaw the same way [Adadelta](adadelta.html) does:
the size is measured by an exponential moving average of squared gradients instead of an
ever-growing sum. With learning rate $\alpha$ and smoothing constant $\beta_2$ (torch's `alpha`;
on these pages $\alpha$ is always the learning rate, and $\beta_2$ the decay of an average of
squares),

\begin{align}
v_t &\leftarrow \beta_2 v_{t-1} + (1 - \beta_2) g_t^2 \\
\theta_t &\leftarrow \theta_{t-1} - \frac{\alpha}{\sqrt{v_t} + \epsilon} \, g_t
\end{align}

$v_t$ averages over roughly the last $\frac{1}{1 - \beta_2}$ steps, a hundred with the default
$\beta_2 = 0.99$. So $\sqrt{v_t}$ is the recent root-mean-square of the gradient, the name's RMS,
and the step $\frac{g_t}{\sqrt{v_t}}$ is about $\pm 1$ in size for every parameter whatever its
gradients' scale. Unlike Adagrad the rate does not die: if gradients shrink, $v_t$ follows them
down within a few hundred steps and the step recovers.

Unlike Adadelta it keeps a learning rate, and PyTorch puts $\epsilon$ outside the root.

## The early steps

$v_0 = 0$ and $v_1 = (1 - \beta_2) g_1^2$, so the first step is
$\frac{\alpha}{\sqrt{1 - \beta_2}} \, \text{sign}(g_1)$: ten times $\alpha$ with $\beta_2 = 0.99$, for
every parameter at once. $v_t$ is biased towards zero until about $\frac{1}{1 - \beta_2}$ steps have
passed, which shows as a spike of loss at the start of training. RMSprop leaves this alone;
[Adam](adam.html) corrects it.

## Centered

$v_t$ is the mean of $g^2$, which is the variance of $g$ plus its mean squared. The centered
variant subtracts an estimate of the mean, $\bar{g}_t \leftarrow \beta_2 \bar{g}_{t-1} + (1 - \beta_2) g_t$,
and divides by the standard deviation instead:

$$\theta_t \leftarrow \theta_{t-1} - \frac{\alpha}{\sqrt{v_t - \bar{g}_t^2} + \epsilon} \, g_t$$

A coordinate whose gradient is large but consistent then takes larger steps than one whose
gradient is merely noisy. It costs one more buffer per parameter.

## Momentum

With momentum $\mu > 0$ the normalized gradient feeds a velocity, as in [SGD](sgd.html):

\begin{align}
b_t &\leftarrow \mu b_{t-1} + \frac{g_t}{\sqrt{v_t} + \epsilon} \\
\theta_t &\leftarrow \theta_{t-1} - \alpha \, b_t
\end{align}

Momentum on the gradient and a moving average of its square: the two ingredients of Adam, put
together differently in three ways.

* $b_t$ is a *sum*, not an average: with a steady normalised gradient it approaches
  $\frac{1}{1 - \mu}$ times it, ten times with $\mu = 0.9$, where Adam's $m_t$ approaches the
  gradient itself. An RMSprop learning rate with momentum is worth about $\frac{1}{1 - \mu}$ Adam
  learning rates.
* Neither average is corrected for its start at zero. $b_t$ starts from one term and fills over
  about $\frac{1}{1 - \mu}$ steps, while each term is inflated by $v_t$'s bias towards zero. For a
  constant gradient, with $\beta_2 = 0.99$ and $\mu = 0.9$, the step is $10 \alpha$ at $t = 1$,
  peaks at about $30 \alpha$ at $t = 11$, and settles at $10 \alpha$ after a few hundred steps;
  Adam's step in the same case is $\alpha$ from the first step on.
* It is applied to the *normalised* gradient $\frac{g_t}{\sqrt{v_t} + \epsilon}$, each term
  divided by the $v$ of its own step; Adam averages raw gradients and divides the average by the
  current $\sqrt{\hat{v}_t}$.
"""

from typing import Any, Dict, Optional, Union

import torch
from torch import nn

from labml_opt.optimizer import GenericAdaptiveOptimizer, Numbers, Params, WeightDecay, as_weight_decay


class RMSprop(GenericAdaptiveOptimizer):
    """
    ## RMSprop optimizer

    A drop-in replacement for `torch.optim.RMSprop`: the same arguments, defaults, update and state.
    """

    def __init__(self, params: Params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: Union[float, WeightDecay] = 0., momentum: float = 0., centered: bool = False,
                 *, maximize: bool = False, foreach: Optional[bool] = None, capturable: bool = False,
                 differentiable: bool = False,
                 state_dtype: Optional[torch.dtype] = None, kahan_sum: bool = False, seed: int = 0):
        r"""
        * `params` is the list of parameters, or of param groups
        * `lr` is the learning rate $\alpha$
        * `alpha` is the smoothing constant $\beta_2$
        * `eps` is $\epsilon$
        * `weight_decay` is $\lambda$: a float means $L_2$ regularization, as in `torch.optim.RMSprop`;
          pass a [`WeightDecay`](optimizer.html#WeightDecay) for another rule
        * `momentum` is $\mu$
        * `centered` divides by the estimated standard deviation of the gradient
        * `maximize` ascends the objective instead of descending it
        * `foreach`, `capturable` and `differentiable` are torch's implementation keywords; see
          [`implementation_options`](optimizer.html#GenericAdaptiveOptimizer)
        * `state_dtype`, `kahan_sum` and `seed` keep the state in `torch.bfloat16`, or add to a
          `bfloat16` parameter with Kahan summation, as [low-precision state](low_precision.html) explains

        `alpha` must be in $[0, 1]$: above $1$ the weight $1 - \beta_2$ of $g_t^2$ is negative, $v_t$
        can go negative, and its root is NaN. (PyTorch accepts any `alpha` $\ge 0$.)
        """
        self.weight_decay = as_weight_decay(weight_decay, decoupled=False)
        defaults = dict(**self.weight_decay.defaults(), lr=lr, alpha=alpha, eps=eps, momentum=momentum,
                        centered=centered, maximize=maximize)
        self.check('alpha', alpha, 0 <= alpha <= 1, 'in [0, 1]')
        self.check('momentum', momentum, momentum >= 0, '>= 0')
        defaults.update(self.implementation_options(foreach, differentiable, capturable))
        super().__init__(params, defaults, state_dtype=state_dtype, kahan_sum=kahan_sum, seed=seed)

    def init_state(self, state: Dict[str, Any], group: Dict[str, Any], param: nn.Parameter):
        r"""
        ### Initialize the state of a parameter

        * `step` counts updates; RMSprop does not use it, but PyTorch saves it, and keeping it
          lets state dicts load both ways
        * `square_avg` is $v_t$
        * `momentum_buffer` is $b_t$, only with momentum
        * `grad_avg` is $\bar{g}_t$, only when centered
        """
        state['step'] = 0
        state['square_avg'] = torch.zeros_like(param, memory_format=torch.preserve_format)
        if group['momentum'] > 0:
            state['momentum_buffer'] = torch.zeros_like(param, memory_format=torch.preserve_format)
        if group['centered']:
            state['grad_avg'] = torch.zeros_like(param, memory_format=torch.preserve_format)

    def step_numbers(self, state: Dict[str, Any], group: Dict[str, Any]) -> Numbers:
        """
        ### The numbers of a step

        The group's hyper-parameters as they are, and the step counted.
        """
        state['step'] += 1
        return Numbers(self.weight_decay.numbers(group), lr=group['lr'], alpha=group['alpha'], eps=group['eps'],
                       momentum=group['momentum'], uses_momentum=group['momentum'] > 0,
                       centered=group['centered'])

    def step_param(self, state: Dict[str, Any], numbers: Numbers, grad: torch.Tensor, param: nn.Parameter):
        """
        ### Update one parameter

        * `grad` is $g_t$, the gradient of the loss with respect to `param`
        """
        alpha = numbers.alpha
        square_avg = state['square_avg']
        # $g_t \leftarrow g_t + \lambda \theta_{t-1}$
        grad = self.weight_decay(param, grad, numbers)
        # $v_t \leftarrow \beta_2 v_{t-1} + (1 - \beta_2) g_t^2$, with $\beta_2$ = `alpha`
        square_avg.mul_(alpha).addcmul_(grad, grad * (1 - alpha))

        if numbers.centered:
            grad_avg = state['grad_avg']
            # $\bar{g}_t \leftarrow \beta_2 \bar{g}_{t-1} + (1 - \beta_2) g_t$
            grad_avg.lerp_(grad, 1 - alpha)
            # $\sqrt{v_t - \bar{g}_t^2}$
            root = square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt()
        else:
            # $\sqrt{v_t}$
            root = square_avg.sqrt()
        # $\epsilon$ outside the root (added out of place: a `differentiable` step needs the root itself)
        denominator = root + numbers.eps

        if numbers.uses_momentum:
            velocity = state['momentum_buffer']
            # $b_t \leftarrow \mu b_{t-1} + \frac{g_t}{\sqrt{v_t} + \epsilon}$
            velocity.mul_(numbers.momentum).addcdiv_(grad, denominator)
            # $\theta_t \leftarrow \theta_{t-1} - \alpha \, b_t$
            param.sub_(numbers.lr * velocity)
        else:
            # $\theta_t \leftarrow \theta_{t-1} - \frac{\alpha}{\sqrt{v_t} + \epsilon} \, g_t$
            param.sub_(numbers.lr * grad / denominator)

# ## Next
#
# RMSprop with momentum has both of Adam's ingredients, a momentum of the gradient and a moving
# average of its square, but both start at zero and are biased towards it for the first hundred
# steps. [Adam](adam.html) averages the raw gradient instead of summing normalised ones into a
# velocity, and corrects both averages for that bias.
