r"""
---
title: Noam optimizer
summary: Adam with the Transformer's learning-rate schedule, a linear warm-up followed by decay as the inverse square root of the step.
---

# Noam

The schedule the original Transformer was trained with, from
[*Attention Is All You Need*](https://arxiv.org/abs/1706.03762) by Vaswani et al., section 5.3.
It carries the name of Noam Shazeer, one of the authors. With model width $d_{model}$,
$w$ warm-up steps and $t$ counting from one,

$$\alpha_t = \alpha \cdot d_{model}^{-0.5} \cdot \min \big( t^{-0.5}, \; t \cdot w^{-1.5} \big)$$

and the update is [Adam's](adam.html) with $\alpha_t$ as its learning rate.

The paper has no $\alpha$: its schedule is the formula with $\alpha = 1$. Here $\alpha$ is the
group's `lr`, a dimensionless **factor** on that schedule (default $1$), so that a scheduler
or a second param group can still scale it. It is not a learning rate: the learning rate
actually applied at step $t$ is $\alpha_t$.

## The shape of the schedule

The two terms of the $\min$ are equal at $t = w$: $w^{-0.5} = w \cdot w^{-1.5}$. Before that,
$t \cdot w^{-1.5}$ is smaller and the rate grows linearly, a warm-up; after it, $t^{-0.5}$ is
smaller and the rate decays as the inverse square root of the step. The peak, at $t = w$, is

$$\alpha_w = \alpha \cdot (d_{model} \cdot w)^{-0.5}$$

For the paper's base model ($d_{model} = 512$, $w = 4000$) that is about $7 \times 10^{-4}$.

## Why it works

The warm-up half is there for the reasons given on the [warm-up page](adam_warmup.html): Adam's
$v_t$ needs many gradients before dividing by it is safe. For Transformers with the layer
normalisation after each residual block, as in the paper, Xiong et al.
([*On Layer Normalization in the Transformer Architecture*](https://arxiv.org/abs/2002.04745))
found warm-up necessary in their experiments: without it, at the learning rates they tried,
training reached much worse results, which they trace to large gradients near the output at
initialisation. The paper itself gives no reason for the schedule's shape. The decay half is the
$1/\sqrt{t}$ step size familiar from the analysis of stochastic gradient methods: each step is
smaller than the last, which lowers the noise in the parameters, while the sum of the steps'
sizes still grows without bound ($\sum_t t^{-1/2}$ diverges), so the schedule never stops
training altogether. Neither is a guarantee for a Transformer, which is not the convex problem
those analyses assume. The factor $d_{model}^{-0.5}$ gives wider models smaller steps; one
reading is that a wider layer sums over more inputs, so the same change to each weight moves its
outputs more.

The paper pairs the schedule with $\beta_1 = 0.9$, $\beta_2 = 0.98$ and $\epsilon = 10^{-9}$;
those are our defaults. `torch.optim` has no such optimizer, so there are no torch defaults to
follow.

## Weight decay

A float `weight_decay` is $L_2$, as in [Adam](adam.html), and is scaled by $\alpha_t$ with the
rest of the gradient. Decoupled decay relative to the learning rate would shrink by
$\alpha \lambda$, and $\alpha$ here is the factor, not a rate; that mixes units, so it is
refused. Absolute decoupled decay does not involve $\alpha$ and is allowed.
"""

import numbers
from typing import Any, Dict, Optional, Tuple, Union

from labml_opt.optimizer import Params, WeightDecay, as_weight_decay
from labml_opt.adam import Adam


class Noam(Adam):
    """
    ## Noam optimizer

    Adam with `get_lr` replaced by the schedule above. `d_model` and `warmup` are group
    hyper-parameters, saved with the `state_dict`.
    """

    def __init__(self, params: Params, lr: float = 1., betas: Tuple[float, float] = (0.9, 0.98),
                 eps: float = 1e-9, weight_decay: Union[float, WeightDecay] = 0.,
                 warmup: int = 4000, d_model: int = 512, optimized_update: bool = True,
                 maximize: bool = False, defaults: Optional[Dict[str, Any]] = None, **implementation: Any):
        r"""
        * `lr` is the factor $\alpha$ on the schedule; $1$ gives the paper's learning rates
        * `betas` is $(\beta_1, \beta_2)$, `eps` is $\epsilon$; the defaults are the paper's
        * `warmup` is $w$, the step at which the rate peaks
        * `d_model` is $d_{model}$, the width of the model
        * `weight_decay` is $\lambda$, as $L_2$ or absolute decoupled decay (see above)
        * `optimized_update` and `maximize` are [Adam's](adam.html)
        * `**implementation` are torch's keywords `foreach`, `fused`, `capturable` and `differentiable`,
          and the [low-precision](low_precision.html) options `state_dtype`, `kahan_sum` and `seed`,
          passed to [Adam](adam.html)
        """
        for name, value in (('warmup', warmup), ('d_model', d_model)):
            self.check(name, value, isinstance(value, numbers.Integral) and value >= 1, 'an integer >= 1')
        decay = as_weight_decay(weight_decay, decoupled=False)
        self.check('weight_decay', weight_decay, not decay.weight_decouple or decay.absolute,
                   'a float (L2) or a WeightDecay that is not decoupled relative to lr, '
                   'since lr is a factor for Noam')
        defaults = {} if defaults is None else defaults
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=decay,
                         optimized_update=optimized_update, maximize=maximize,
                         defaults=dict(defaults, warmup=warmup, d_model=d_model), **implementation)

    def get_lr(self, state: Dict[str, Any], group: Dict[str, Any]) -> float:
        r"""
        ### The learning rate $\alpha_t$

        `state['step']` is $t \ge 1$, each parameter's own count, as on the
        [warm-up page](adam_warmup.html).
        """
        step, warmup = state['step'], group['warmup']
        # $\min \big( t^{-0.5}, \; t \cdot w^{-1.5} \big)$
        schedule = min(step ** -0.5, step * warmup ** -1.5)
        # $\alpha \cdot d_{model}^{-0.5} \cdot \min \big( t^{-0.5}, \; t \cdot w^{-1.5} \big)$
        return group['lr'] * group['d_model'] ** -0.5 * schedule
