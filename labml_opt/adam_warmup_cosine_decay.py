r"""
---
title: Adam with warm-up and cosine decay
summary: Adam whose learning rate warms up linearly, then follows half a cosine down to a floor at a set number of steps.
---

# Adam with warm-up and cosine decay

This is [Adam with warm-up](adam_warmup.html) whose learning rate, after peaking, comes back
down along half a cosine, the schedule of
[*SGDR: Stochastic Gradient Descent with Warm Restarts*](https://arxiv.org/abs/1608.03983)
without the restarts. With peak rate $\alpha$, $w$ warm-up steps, $T$ total steps and a floor
$r \alpha$ (`final_lr_ratio` is $r$),

$$
\alpha_t = \begin{cases}
\alpha \frac{t}{w} & t \le w \\
\alpha \Big( r + (1 - r) \frac{1}{2} \big(1 + \cos \big(\pi \frac{t - w}{T - w}\big)\big) \Big) & w < t \le T \\
r \alpha & t > T
\end{cases}
$$

The cosine term runs from $1$ at $t = w$ to $0$ at $t = T$, so $\alpha_t$ goes from the peak
$\alpha$ to the floor $r \alpha$ without a jump at either end, and stays at the floor if
training runs past $T$.

## Why it works

Late in training the gradient is mostly noise around a minimum, and the size of the step sets
how far the parameters rattle around it: smaller steps settle lower. Decaying $\alpha_t$
trades speed early for precision late. The cosine spends long near the peak, where progress
is fast, and long near the floor, where the noise averages out, and is steepest in between;
unlike step decay it has no moments where the loss jumps, and unlike $1/t$ decay it ends at a
chosen value at a chosen step.

The floor $r$ keeps the last steps from stopping altogether; with $r = 0$ the final update
is zero. Schedules for large models often use $r = 0.1$.

Everything [AdamWarmup](adam_warmup.html) says about whose step count $t$ is, and about
decoupled weight decay using the peak `lr`, holds here too.
"""

import math
import numbers
from typing import Any, Dict, Optional, Tuple, Union

from labml_opt.optimizer import Params, WeightDecay
from labml_opt.adam_warmup import AdamWarmup


class AdamWarmupCosineDecay(AdamWarmup):
    """
    ## Adam with warm-up and cosine decay

    Warm-up is inherited from [AdamWarmup](adam_warmup.html); `get_lr` adds the decay after it.
    `total_steps` has no sensible default, so it must be given.
    """

    def __init__(self, params: Params, lr: float = 1e-3, betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: Union[float, WeightDecay] = 0.,
                 warmup: int = 2000, *, total_steps: int, final_lr_ratio: float = 0.,
                 optimized_update: bool = True, maximize: bool = False,
                 defaults: Optional[Dict[str, Any]] = None, **implementation: Any):
        r"""
        * `lr` is the peak learning rate $\alpha$
        * `warmup` is the number of warm-up steps $w$
        * `total_steps` is $T$, the step at which the decay reaches the floor; it must exceed $w$
        * `final_lr_ratio` is $r \in [0, 1]$, the floor as a fraction of $\alpha$
        * `betas`, `eps`, `weight_decay`, `optimized_update` and `maximize` are
          [Adam's](adam.html)
        * `**implementation` are torch's keywords `foreach`, `fused`, `capturable` and `differentiable`,
          and the [low-precision](low_precision.html) options `state_dtype`, `kahan_sum` and `seed`,
          passed to [AdamWarmup](adam_warmup.html) and so to [Adam](adam.html)
        """
        defaults = {} if defaults is None else defaults
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, warmup=warmup,
                         optimized_update=optimized_update, maximize=maximize,
                         defaults=dict(defaults, total_steps=total_steps, final_lr_ratio=final_lr_ratio),
                         **implementation)
        # Checked after the parent has checked `warmup`, which they are compared with.
        self.check('total_steps', total_steps,
                   isinstance(total_steps, numbers.Integral) and total_steps > warmup,
                   f'an integer > warmup ({warmup!r})')
        self.check('final_lr_ratio', final_lr_ratio, 0 <= final_lr_ratio <= 1, 'in [0, 1]')

    def get_lr(self, state: Dict[str, Any], group: Dict[str, Any]) -> float:
        r"""
        ### The learning rate $\alpha_t$
        """
        step, warmup, total_steps = state['step'], group['warmup'], group['total_steps']
        # $\alpha \frac{t}{w}$ for $t \le w$
        if step <= warmup:
            return super().get_lr(state, group)
        # $\frac{t - w}{T - w}$, held at $1$ after $T$ so the rate stays at the floor
        progress = min(1., (step - warmup) / (total_steps - warmup))
        # $\frac{1}{2} \big(1 + \cos (\pi \cdot \text{progress})\big)$ falls from $1$ to $0$
        cosine = 0.5 * (1 + math.cos(math.pi * progress))
        ratio = group['final_lr_ratio']
        # $\alpha \big( r + (1 - r) \cdot \text{cosine} \big)$
        return group['lr'] * (ratio + (1 - ratio) * cosine)
