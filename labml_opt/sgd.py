r"""
---
title: Stochastic gradient descent with momentum
summary: An annotated PyTorch implementation of SGD with momentum, dampening and Nesterov momentum, and why PyTorch's form of momentum differs from the textbook's when the learning rate changes.
---

# Stochastic gradient descent

This is the first page of a short story that ends at [Adam](adam.html). Each optimizer in it
fixes one weakness of the one before, and each page ends by pointing at the next.

Gradient descent moves every parameter a small step against the gradient $g_t$ of the loss
$J$, with learning rate $\alpha$:

$$\theta_t \leftarrow \theta_{t-1} - \alpha \, g_t, \qquad g_t = \nabla_\theta J(\theta_{t-1})$$

*Stochastic* means $g_t$ comes from a mini-batch rather than the whole data set: a noisy
but cheap estimate of the true gradient. In practice "SGD" means mini-batch gradient descent.

$\alpha$ sets the step size, and one number has to suit the whole loss surface. Too large and
training oscillates or diverges (a NaN loss is the usual sign); too small and it crawls.

## Momentum

Picture the loss as a landscape and the parameters as a ball. Where the ground is steep the
gradient is large and plain SGD moves fast; across a long flat region, or down the gentle floor
of a narrow valley, the gradient is tiny and SGD barely moves, even when it has been pointing
the same way for a thousand steps. In the valley it also zig-zags between the steep walls.

Momentum gives the ball a velocity $b_t$ that remembers past gradients (torch's
`momentum_buffer`; $v_t$ is kept for Adam's second moment):

\begin{align}
b_t &\leftarrow \mu b_{t-1} + g_t \\
\theta_t &\leftarrow \theta_{t-1} - \alpha \, b_t
\end{align}

With momentum $\mu$ (typically $0.9$), gradients that keep pointing the same way add up: a
constant gradient $g$ gives a velocity that approaches $\frac{g}{1 - \mu}$, ten times the plain
step. $b_t$ is a sum, not an average like Adam's $m_t$, which is why momentum gets its own
symbol $\mu$ rather than $\beta_1$. Gradients that flip sign from step to step, as across the walls of a valley, cancel.
So the ball speeds up across flat ground and settles down in ravines.

## PyTorch's form and the textbook's

The equations above are the form `torch.optim.SGD` uses, and so do we. Many textbooks (and
Sutskever et al., 2013) put the learning rate inside the velocity instead:

\begin{align}
u_t &\leftarrow \mu u_{t-1} + \alpha_t \, g_t \\
\theta_t &\leftarrow \theta_{t-1} - u_t
\end{align}

While the learning rate is constant the two are the same algorithm: by induction $u_t = \alpha b_t$,
so both take the step $\alpha b_t$. Unrolling both shows when they differ:

\begin{align}
\text{PyTorch:} \quad \theta_{t-1} - \theta_t &= \alpha_t \sum_{i=1}^{t} \mu^{t-i} g_i \\
\text{textbook:} \quad \theta_{t-1} - \theta_t &= \sum_{i=1}^{t} \mu^{t-i} \alpha_i \, g_i
\end{align}

When a scheduler changes the learning rate, PyTorch's form applies the new $\alpha_t$ to the whole
remembered velocity at once: halving $\alpha$ halves the very next step. In the textbook form each
gradient keeps the rate it arrived with, so the change fades in over about $\frac{1}{1 - \mu}$
steps. Neither is wrong, but a schedule tuned for one is not the same schedule for the other.

## Dampening and Nesterov

*Dampening* $\tau$ scales the new gradient's share of the velocity,
$b_t \leftarrow \mu b_{t-1} + (1 - \tau) g_t$. PyTorch starts the velocity at the first gradient
itself, $b_1 = g_1$, without dampening; we do the same.

*Nesterov momentum* looks ahead: it steps along the gradient plus the velocity it is about to
have, $\theta_t \leftarrow \theta_{t-1} - \alpha (g_t + \mu b_t)$. It needs momentum, and dampening
would break the look-ahead, so it requires $\mu > 0$ and $\tau = 0$.

Weight decay $\lambda$ is $L_2$ regularization, as in PyTorch: $g_t \leftarrow g_t + \lambda \theta_{t-1}$.
"""

from typing import Any, Dict, Optional, Union

import torch
from torch import nn

from labml_opt.optimizer import GenericAdaptiveOptimizer, Numbers, Params, WeightDecay, as_weight_decay


class SGD(GenericAdaptiveOptimizer):
    """
    ## SGD optimizer

    A drop-in replacement for `torch.optim.SGD`: the same arguments, defaults, update and state.
    Every operation of its step also takes a sparse gradient (`nn.Embedding(sparse=True)`), so
    it does.
    """

    supports_sparse = True

    def __init__(self, params: Params, lr: float = 1e-3, momentum: float = 0., dampening: float = 0.,
                 weight_decay: Union[float, WeightDecay] = 0., nesterov: bool = False, *,
                 maximize: bool = False, foreach: Optional[bool] = None, differentiable: bool = False,
                 fused: Optional[bool] = None,
                 state_dtype: Optional[torch.dtype] = None, kahan_sum: bool = False, seed: int = 0):
        r"""
        * `params` is the list of parameters, or of param groups
        * `lr` is the learning rate $\alpha$
        * `momentum` is $\mu$; $0$ turns momentum off and keeps no state at all
        * `dampening` is $\tau$
        * `weight_decay` is $\lambda$: a float means $L_2$ regularization, as in `torch.optim.SGD`;
          pass a [`WeightDecay`](optimizer.html#WeightDecay) for another rule
        * `nesterov` uses Nesterov momentum
        * `maximize` ascends the objective instead of descending it
        * `foreach`, `fused` and `differentiable` are torch's implementation keywords; see
          [`implementation_options`](optimizer.html#GenericAdaptiveOptimizer)
        * `state_dtype`, `kahan_sum` and `seed` keep the state in `torch.bfloat16`, or add to a
          `bfloat16` parameter with Kahan summation, as [low-precision state](low_precision.html) explains
        """
        self.weight_decay = as_weight_decay(weight_decay, decoupled=False)
        defaults = dict(**self.weight_decay.defaults(), lr=lr, momentum=momentum, dampening=dampening,
                        nesterov=nesterov, maximize=maximize)
        self.check('momentum', momentum, momentum >= 0, '>= 0')
        self.check('dampening', dampening, 0 <= dampening <= 1, 'in [0, 1]')
        self.check('nesterov', nesterov, not nesterov or (momentum > 0 and dampening == 0),
                   'False unless momentum > 0 and dampening == 0')
        defaults.update(self.implementation_options(foreach, differentiable, False, fused))
        super().__init__(params, defaults, state_dtype=state_dtype, kahan_sum=kahan_sum, seed=seed)

    def init_state(self, state: Dict[str, Any], group: Dict[str, Any], param: nn.Parameter):
        """
        ### Initialize the state of a parameter

        Plain SGD remembers nothing. With momentum, `momentum_buffer` is the velocity $b_t$.
        It starts as `None` because $b_1$ is the first gradient itself, which only the first step
        knows. Creating the key here, rather than in the first step, is what lets a saved state
        with a `momentum_buffer` load.
        """
        if group['momentum'] != 0:
            state['momentum_buffer'] = None

    def step_numbers(self, state: Dict[str, Any], group: Dict[str, Any]) -> Numbers:
        """
        ### The numbers of a step

        The group's hyper-parameters as they are; SGD counts no steps.
        """
        return Numbers(self.weight_decay.numbers(group), lr=group['lr'], momentum=group['momentum'],
                       dampening=group['dampening'], nesterov=group['nesterov'],
                       uses_momentum=group['momentum'] != 0)

    def step_param(self, state: Dict[str, Any], numbers: Numbers, grad: torch.Tensor, param: nn.Parameter):
        """
        ### Update one parameter

        * `grad` is $g_t$, the gradient of the loss with respect to `param`
        """
        # $g_t \leftarrow g_t + \lambda \theta_{t-1}$
        grad = self.weight_decay(param, grad, numbers)
        if numbers.uses_momentum:
            velocity = state['momentum_buffer']
            # $b_1 = g_1$, a copy: `param.grad` belongs to the user
            if velocity is None:
                velocity = state['momentum_buffer'] = grad.clone()
            # $b_t \leftarrow \mu b_{t-1} + (1 - \tau) g_t$
            else:
                velocity.mul_(numbers.momentum).add_(grad * (1 - numbers.dampening))
            # Nesterov steps along $g_t + \mu b_t$, classical momentum along $b_t$
            if numbers.nesterov:
                grad = grad + numbers.momentum * velocity
            else:
                grad = velocity
        # $\theta_t \leftarrow \theta_{t-1} - \alpha \, g_t$, where $g_t$ now holds the direction above
        param.sub_(numbers.lr * grad)

# ## Next
#
# SGD uses one learning rate for every parameter. A weight that sees a gradient once in a thousand
# steps moves as cautiously as one that sees a gradient every step.
# [Adagrad](adagrad.html) gives every parameter a rate of its own.
