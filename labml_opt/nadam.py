r"""
---
title: NAdam optimizer
summary: An annotated PyTorch implementation of NAdam, Adam with Nesterov momentum and a momentum warm-up schedule.
---

# NAdam

NAdam comes from [*Incorporating Nesterov Momentum into Adam*](https://openreview.net/forum?id=OM0jvwB8jIp57ZJjtNEZ)
by Dozat (2016). It keeps [Adam](adam.html)'s moving averages, and changes the step the way
Nesterov's accelerated gradient changes classical momentum: it applies next step's momentum
now.

## Nesterov momentum in one line

Classical momentum steps along $m_t$, which mixes the old momentum $m_{t-1}$ with the new gradient.
Nesterov momentum first moves along the momentum and then corrects with the gradient found
there. That the look-ahead can be written without evaluating the gradient anywhere but at the
current point, by computing the gradient there and applying the *next* step's momentum now, is
from Sutskever, Martens, Dahl and Hinton (2013) and Bengio, Boulanger-Lewandowski and Pascanu
(2013), for classical momentum. Dozat's contribution is to apply it to Adam: in the step taken at
time $t$, weight the current gradient by $1 - \mu_t$ and the new average $m_t$ by $\mu_{t+1}$, the
momentum that *will* be applied at $t+1$:

$$\bar{m}_t = (1 - \mu_t) \frac{g_t}{1 - \prod_{i=1}^{t} \mu_i}
  + \mu_{t+1} \frac{m_t}{1 - \prod_{i=1}^{t+1} \mu_i}$$

The step then reacts to the current gradient at once, rather than only through an average that
changes slowly, and tends to overshoot less.

## The momentum schedule

The momentum coefficient warms up: with $\kappa$ the `momentum_decay`,

$$\mu_t = \beta_1 \left(1 - \frac{1}{2} \cdot 0.96^{t \kappa}\right)$$

It starts at about $\beta_1 / 2$ and approaches $\beta_1$; with the default $\kappa = 0.004$ the
gap halves every 4,250 steps or so. For an average built with these $\mu_t$, the bias correction
is $1 - \prod_{i=1}^{t} \mu_i$ in place of Adam's $1 - \beta_1^t$; the product is kept in the
state as `mu_product`, as in `torch.optim.NAdam`.

## The update

\begin{align}
m_t &\leftarrow \beta_1 m_{t-1} + (1 - \beta_1) g_t \\
v_t &\leftarrow \beta_2 v_{t-1} + (1 - \beta_2) g_t^2 \\
\hat{v}_t &\leftarrow \frac{v_t}{1 - \beta_2^t} \\
\theta_t &\leftarrow \theta_{t-1} - \alpha \frac{\bar{m}_t}{\sqrt{\hat{v}_t} + \epsilon}
\end{align}

As in `torch.optim.NAdam` (and Keras), the moving average $m_t$ uses the constant $\beta_1$; the
schedule $\mu_t$ only weights the two terms of $\bar{m}_t$. Dozat's paper averages with $\mu_t$
itself, $m_t \leftarrow \mu_t m_{t-1} + (1 - \mu_t) g_t$.

## The bias this leaves

An average built with $\beta_1$ has the bias $1 - \beta_1^t$, not $1 - \prod_{i=1}^{t} \mu_i$, so
dividing by the latter does not remove it. With a constant gradient $g$, $m_t = (1 - \beta_1^t) g$
and $\hat{v}_t = g^2$, and the implemented $\bar{m}_t$ is

$$\bar{m}_t = \left( \frac{1 - \mu_t}{1 - \prod_{i=1}^{t} \mu_i}
  + \frac{\mu_{t+1} (1 - \beta_1^t)}{1 - \prod_{i=1}^{t+1} \mu_i} \right) g$$

With the defaults that is $1.06 g$ at $t = 1$, $0.73 g$ at $t = 3$ and $4$ (the lowest), $0.84 g$
at $t = 10$, $0.95 g$ at $t = 20$, and within $1\%$ of $g$ only from $t = 37$ on. For those first
few dozen steps NAdam moves up to $27\%$ less than Adam would with the same $\alpha$ and the
same gradient ($6\%$ more at $t = 1$).
(Dozat's form, with $m_t = (1 - \prod_{i=1}^{t} \mu_i) g$ here, starts higher, $1.31 g$ at $t = 1$
and $1.03 g$ at $t = 3$, and is within $1\%$ of $g$ from $t = 5$.)
`python -m labml_opt.figures` measures $\bar{m}_t$ from this class's steps, and
`tests/optimizers/test_nadam.py` checks it against the formula above.

![NAdam's momentum average for a constant gradient, as implemented and in Dozat's form](figures/nadam_average.svg)

A float `weight_decay` is $L_2$ regularization, and `decoupled_weight_decay=True` makes it
decoupled, as in [AdamW](adamw.html); torch calls that variant NAdamW.

`optimized_update` folds $\sqrt{1-\beta_2^t}$ into the two step sizes, with
$\hat{\epsilon} = \epsilon \sqrt{1-\beta_2^t}$ exactly as [derived for Adam](adam.html).
"""

from typing import Any, Dict, Optional, Tuple, Union

import torch
from torch import nn

from labml_opt.optimizer import Numbers, Params, WeightDecay, as_weight_decay
from labml_opt.adam import Adam


class NAdam(Adam):
    """
    ## NAdam optimizer

    The step needs the gradient $g_t$ itself, which Adam's `adam_update` does not receive,
    so NAdam overrides `step_param` and takes its step in `nadam_update`, with the step sizes
    that its `step_numbers` adds to Adam's.
    """

    def __init__(self, params: Params, lr: float = 2e-3, betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: Union[float, WeightDecay] = 0.,
                 momentum_decay: float = 4e-3, decoupled_weight_decay: bool = False,
                 optimized_update: bool = True, maximize: bool = False,
                 defaults: Optional[Dict[str, Any]] = None, **implementation: Any):
        r"""
        * `params` is the list of parameters, or of param groups
        * `lr` is the learning rate $\alpha$; the default $2 \cdot 10^{-3}$ is torch's
        * `betas` is the pair $(\beta_1, \beta_2)$
        * `eps` is $\epsilon$
        * `weight_decay` is $\lambda$, a float or a [`WeightDecay`](optimizer.html#WeightDecay)
        * `momentum_decay` is $\kappa$, how fast $\mu_t$ approaches $\beta_1$
        * `decoupled_weight_decay` makes a float `weight_decay` decoupled rather than $L_2$
        * `optimized_update` folds bias correction into the step sizes
        * `maximize` ascends the objective instead of descending it
        * `defaults` holds extra group defaults from subclasses
        * `**implementation` are torch's keywords `foreach`, `fused`, `capturable` and `differentiable`,
          and the [low-precision](low_precision.html) options `state_dtype`, `kahan_sum` and `seed`,
          passed to [Adam](adam.html)
        """
        self.check('momentum_decay', momentum_decay, momentum_decay >= 0, '>= 0')
        defaults = {} if defaults is None else defaults
        defaults = dict(defaults, momentum_decay=momentum_decay)
        super().__init__(params, lr=lr, betas=betas, eps=eps,
                         weight_decay=as_weight_decay(weight_decay, decoupled=decoupled_weight_decay),
                         optimized_update=optimized_update, maximize=maximize, defaults=defaults, **implementation)

    def init_state(self, state: Dict[str, Any], group: Dict[str, Any], param: nn.Parameter):
        r"""
        ### Initialize the state of a parameter

        Adam's state, plus `mu_product`, which is $\prod_{i=1}^{t} \mu_i$, one before any step.
        """
        super().init_state(state, group, param)
        state['mu_product'] = 1.

    @staticmethod
    def momentum(group: Dict[str, Any], step: int) -> float:
        r"""
        ### The momentum coefficient $\mu_t$ at step $t$ = `step`
        """
        beta1 = group['betas'][0]
        # $\mu_t = \beta_1 (1 - \frac{1}{2} \cdot 0.96^{t \kappa})$
        return beta1 * (1 - 0.5 * 0.96 ** (step * group['momentum_decay']))

    def step_numbers(self, state: Dict[str, Any], group: Dict[str, Any]) -> Numbers:
        r"""
        ### The numbers of step $t$

        [Adam's](adam.html) numbers, the running product of the momentum coefficients, and the step
        sizes of the two parts of the update.
        """
        numbers = super().step_numbers(state, group)
        step = int(state['step'])
        # $\mu_t$ and $\mu_{t+1}$
        mu = self.momentum(group, step)
        mu_next = self.momentum(group, step + 1)
        # $\prod_{i=1}^{t} \mu_i$ and $\prod_{i=1}^{t+1} \mu_i$
        state['mu_product'] *= mu
        mu_product = state['mu_product']
        mu_product_next = mu_product * mu_next
        # $\alpha \sqrt{1-\beta_2^t}$ for the optimized update, which divides by
        # $\sqrt{1-\beta_2^t}$ times $\sqrt{\hat{v}_t} + \epsilon$; $\alpha$ otherwise
        step_size = numbers.lr * numbers.sqrt_bias_correction2 if self.optimized_update else numbers.lr
        # $\alpha \frac{1 - \mu_t}{1 - \prod_{i=1}^{t} \mu_i}$ for $g_t$, and
        # $\alpha \frac{\mu_{t+1}}{1 - \prod_{i=1}^{t+1} \mu_i}$ for $m_t$
        numbers.update(grad_step_size=step_size * (1 - mu) / (1 - mu_product),
                       momentum_step_size=step_size * mu_next / (1 - mu_product_next))
        return numbers

    def step_param(self, state: Dict[str, Any], numbers: Numbers, grad: torch.Tensor, param: nn.Parameter):
        """
        ### Update one parameter

        * `grad` is $g_t$, the gradient of the loss with respect to `param`
        """
        grad = self.weight_decay(param, grad, numbers)
        m, v = self.get_mv(state, numbers, grad)
        self.nadam_update(state, numbers, param, grad, m, v)

    def nadam_update(self, state: Dict[str, Any], numbers: Numbers, param: nn.Parameter,
                     grad: torch.Tensor, m: torch.Tensor, v: torch.Tensor):
        r"""
        ### Take the NAdam step

        * `param` is $\theta_{t-1}$, updated in place to $\theta_t$
        * `grad` is $g_t$, and `m` and `v` are $m_t$ and $v_t$
        """
        # [Adam's denominator](adam.html): $\sqrt{v_t} + \hat{\epsilon}$ for the optimized update,
        # $\sqrt{1-\beta_2^t}$ times $\sqrt{\hat{v}_t} + \epsilon$, which its step sizes undo
        denominator = self.denominator(numbers, v)
        # The current gradient's part of $\bar{m}_t$:
        # $\theta \leftarrow \theta - \alpha \frac{1 - \mu_t}{1 - \prod_{i=1}^{t} \mu_i}
        #   \cdot \frac{g_t}{\sqrt{\hat{v}_t} + \epsilon}$
        param.sub_(numbers.grad_step_size * grad / denominator)
        # The look-ahead momentum's part:
        # $\theta \leftarrow \theta - \alpha \frac{\mu_{t+1}}{1 - \prod_{i=1}^{t+1} \mu_i}
        #   \cdot \frac{m_t}{\sqrt{\hat{v}_t} + \epsilon}$
        param.sub_(numbers.momentum_step_size * m / denominator)
