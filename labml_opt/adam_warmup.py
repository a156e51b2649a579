r"""
---
title: Adam with learning-rate warm-up
summary: Adam whose learning rate grows linearly from zero to its full value over the first steps, and why that protects the early updates.
---

# Adam with warm-up

Warm-up starts training with a small learning rate and raises it linearly to the target
$\alpha$ over the first $w$ steps. It was popularised by
[*Attention Is All You Need*](https://arxiv.org/abs/1706.03762) (see [Noam](noam.html)) for Adam,
and by Goyal et al., [*Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour*](https://arxiv.org/abs/1706.02677)
(2017), for SGD with large batches; it is now part of almost every large training run. With $t$ counting from one,

$$\alpha_t = \alpha \min \Big(1, \frac{t}{w}\Big)$$

and everything else is plain [Adam](adam.html), with $\alpha_t$ in place of $\alpha$:

$$\theta_t \leftarrow \theta_{t-1} - \alpha_t \frac{\hat{m}_t}{\sqrt{\hat{v}_t} + \epsilon}$$

The first step uses the rate $\alpha / w$, step $w$ and every later one the full $\alpha$ (Adam's
steps are then about $\alpha_t$ per coordinate: exactly $\alpha_1 \operatorname{sign}(g_1)$ at
$t = 1$, see [Adam's page](adam.html) for how far from $\alpha_t$ later steps can be).
With $w = 0$ there is no warm-up and this is exactly Adam.

## Why it works

Adam divides by $\sqrt{\hat{v}_t}$, an average of squared gradients over roughly the last
$1 / (1 - \beta_2)$ steps. At the start it has seen only a handful of gradients, so it is a
noisy estimate of the gradient's scale; where it happens to be small, the division produces
steps close to $\alpha$ in size in directions the data has hardly spoken for yet. Bias
correction removes the *bias* of that estimate, not its *variance*
(this is the analysis of [RAdam](radam.html)). Keeping $\alpha_t$ small while $v_t$ fills up
limits the damage those early steps can do; once $v_t$ averages over many gradients, the full
$\alpha$ is safe.

That explanation is disputed. Ma and Yarats,
[*On the Adequacy of Untuned Warmup for Adaptive Optimization*](https://arxiv.org/abs/1910.04209),
refute that analysis: they explain the need for warm-up by the *magnitude* of Adam's early
updates, which are about $\alpha$ per coordinate from the very first step, rather than by the
variance of the adaptive rate. They find that Adam with an untuned linear warm-up over
$w = 2 / (1 - \beta_2)$ steps performs about as well as RAdam, and propose it as a default:
$2000$ steps for $\beta_2 = 0.999$, our default.

## Whose step count

$t$ is each parameter's own `state['step']`, the same count Adam uses for bias correction.
When every parameter receives a gradient on every step (the usual case), that is simply the
number of optimizer steps. A parameter that first gets a gradient later, say an embedding row
of a rare token, starts its own warm-up then, which is what we want: its $v_t$ is just as
new as everyone's was at step one. Because the count lives in the state, a saved and reloaded
optimizer continues its warm-up where it stopped.

## Three notes

* This is Adam with warm-up, nothing more. labml_nn's `AdamWarmup` is built on
  [AMSGrad](amsgrad.html), and its experiment config named "AdamW" builds this
  warm-up optimizer; here each name means one algorithm.
* Decoupled weight decay (a [`WeightDecay`](optimizer.html#WeightDecay) with
  `weight_decouple=True`) shrinks by $\alpha \lambda$ using the group's `lr`, the *peak* rate:
  the decay itself is not warmed up. The default float `weight_decay` is $L_2$, as in
  `torch.optim.Adam`, and passes through $\alpha_t$ like the rest of the gradient.
* A `torch.optim.lr_scheduler` sets the group's `lr`, which is the peak $\alpha$ here: the warm-up
  multiplies whatever value it finds there, so the two schedules compose.
"""

import numbers
from typing import Any, Dict, Optional, Tuple, Union

from labml_opt.optimizer import Params, WeightDecay
from labml_opt.adam import Adam


class AdamWarmup(Adam):
    """
    ## Adam with linear warm-up

    Only the learning rate changes, so only `get_lr` is overridden. The warm-up length $w$ is a
    group hyper-parameter like `lr`: groups may differ, and it is saved with the `state_dict`.
    """

    def __init__(self, params: Params, lr: float = 1e-3, betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: Union[float, WeightDecay] = 0.,
                 warmup: int = 2000, optimized_update: bool = True, maximize: bool = False,
                 defaults: Optional[Dict[str, Any]] = None, **implementation: Any):
        r"""
        * `lr` is the peak learning rate $\alpha$, reached at step $w$
        * `warmup` is the number of warm-up steps $w$; $0$ turns warm-up off
        * `betas`, `eps`, `weight_decay`, `optimized_update` and `maximize` are
          [Adam's](adam.html)
        * `defaults` holds extra group defaults from subclasses
        * `**implementation` are torch's keywords `foreach`, `fused`, `capturable` and `differentiable`,
          and the [low-precision](low_precision.html) options `state_dtype`, `kahan_sum` and `seed`,
          passed to [Adam](adam.html)
        """
        self.check('warmup', warmup, isinstance(warmup, numbers.Integral) and warmup >= 0, 'an integer >= 0')
        defaults = {} if defaults is None else defaults
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         optimized_update=optimized_update, maximize=maximize,
                         defaults=dict(defaults, warmup=warmup), **implementation)

    def get_lr(self, state: Dict[str, Any], group: Dict[str, Any]) -> float:
        r"""
        ### The learning rate $\alpha_t$

        `state['step']` is $t$, already counting the current step, so the first step uses
        $\alpha / w$ and step $w$ the full $\alpha$.
        """
        warmup = group['warmup']
        # $\alpha_t = \alpha \min \big(1, \frac{t}{w}\big)$
        if state['step'] < warmup:
            return group['lr'] * state['step'] / warmup
        return group['lr']
