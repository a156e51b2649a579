r"""
---
title: Schedule-Free AdamW
summary: An annotated PyTorch implementation of Schedule-Free AdamW, the winner of AlgoPerf 2024's self-tuning track, as Schedule-Free SGD with Adam's normalized gradient step.
---

# Schedule-Free AdamW

Schedule-Free AdamW, from [*The Road Less Scheduled*](https://arxiv.org/abs/2405.15682) by
Defazio et al. (2024), won the self-tuning track of the AlgoPerf 2024 benchmark, where an
algorithm must train every workload with one setting of its hyper-parameters and no knowledge of
how long it will run. It trains without a learning-rate schedule, so a run can be stopped or
extended at any step, and the model at every step is as good as a scheduled run that ends there.

How the schedule is replaced, by averaging the iterates $z_t$ into $x_t$ and taking gradients at a
point $y_t$ between them, is explained on the page of [Schedule-Free SGD](schedule_free_sgd.html),
and the code of the averaging, the weights and the train and eval modes lives there. What AdamW
changes is the step that $z$ takes: the gradient is divided, coordinate by coordinate, by the root
of its moving average of squares, as in [Adam](adam.html), and the weights decay.

## The update

With learning rate $\alpha_t$ (after warm-up), $\beta_1$ as the interpolation $\beta$ of
Schedule-Free SGD, $\beta_2$, $\epsilon$ and decay $\lambda$:

\begin{align}
y_t &= (1 - \beta_1) z_t + \beta_1 x_t \\
g_t &= \nabla f(y_t) \\
v_t &= \beta_2 v_{t-1} + (1 - \beta_2) g_t^2 \\
z_{t+1} &= z_t - \alpha_t \left( \frac{g_t}{\sqrt{v_t / (1 - \beta_2^t)} + \epsilon} + \lambda y_t \right) \\
x_{t+1} &= (1 - c_{t+1}) x_t + c_{t+1} z_{t+1}
\end{align}

There is no first moment $m_t$: the interpolation $y_t$ plays the role of Adam's momentum, which
is why $\beta_1$ is its coefficient. The decay $\lambda y_t$ is taken at $y_t$, where the gradient
is, and is not divided by $\sqrt{\hat{v}_t}$: decoupled, as in [AdamW](adamw.html).

## Memory per parameter

Two tensors of state, $z$ and $v$: 8 bytes per `float32` parameter, the same as AdamW, whose
$m$ is replaced by $z$. Its time per step, next to `schedulefree`'s, is in
[the benchmark](fast.html#benchmark).

## What to tune

* $\alpha$ (`lr`): the reference package's README finds the best learning rate 1 to 10 times
  larger than with a schedule; its default is $0.0025$.
* `warmup_steps`: Schedule-Free AdamW needs a warm-up where AdamW would; add no scheduler.
* $\beta_1$: $0.9$; the README finds that very long runs may need $0.95$ or $0.98$.
* `weight_decay`, $\beta_2$, $\epsilon$: as for AdamW.

## The reference implementation, and where it departs from the paper

The arguments and defaults are those of
[`schedulefree.AdamWScheduleFree`](https://github.com/facebookresearch/schedule_free), and the
tests hold this page to it, in train and eval mode. Besides the departures that
[Schedule-Free SGD](schedule_free_sgd.html) lists, the reference corrects the bias of $v_t$ inside the square root, as written above. The
paper's Algorithm 1 moves the correction into the learning rate instead,
$\alpha_t = \alpha \sqrt{1 - \beta_2^t} \min(1, t / T_{warmup})$ with $\sqrt{v_t} + \epsilon$ in the
denominator, which also lowers the averaging weights of the first steps; the reference package
keeps that form as `AdamWScheduleFreePaper`, and says it "can cause instability on some problems".
The two differ in the size of $\epsilon$ relative to the gradient, and in the first few thousand
averaging weights. `ScheduleFreeAdamW` follows `AdamWScheduleFree`;
[`ScheduleFreeAdamWPaper`](#ScheduleFreeAdamWPaper) below takes the paper's form and is tested
against `AdamWScheduleFreePaper`. (Both packages' classes, and so both of ours, weight the
average by the largest learning rate so far rather than by $\alpha_t$; see
[Schedule-Free SGD](schedule_free_sgd.html).)
"""

import math
from typing import Any, Dict, Optional, Tuple

import torch
from torch import nn

from labml_opt.optimizer import Numbers, Params
from labml_opt.schedule_free_sgd import ScheduleFree


class ScheduleFreeAdamW(ScheduleFree):
    """
    ## Schedule-Free AdamW
    """

    def __init__(self, params: Params, lr: float = 0.0025, betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, warmup_steps: int = 0, r: float = 0.0,
                 weight_lr_power: float = 2.0, foreach: Optional[bool] = True, *,
                 state_dtype: Optional[torch.dtype] = None, kahan_sum: bool = False, seed: int = 0):
        r"""
        * `lr` is $\alpha$
        * `betas` is $(\beta_1, \beta_2)$; $\beta_1$ must be above 0, since $x$ is recovered by dividing by it
        * `eps` is $\epsilon$
        * `weight_decay` is $\lambda$
        * `warmup_steps`, `r`, `weight_lr_power` and `foreach` are
          [Schedule-Free SGD](schedule_free_sgd.html#ScheduleFree)'s
        * `state_dtype`, `kahan_sum` and `seed` keep the state in `torch.bfloat16`, or add to a
          `bfloat16` parameter with Kahan summation, as [low-precision state](low_precision.html) explains
        """
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      warmup_steps=warmup_steps, r=r, weight_lr_power=weight_lr_power),
                         state_dtype=state_dtype, kahan_sum=kahan_sum, seed=seed)

    def check_hyperparameters(self, defaults: Dict[str, Any]):
        super().check_hyperparameters(defaults)
        self.check('beta1', defaults['betas'][0], defaults['betas'][0] > 0, 'in (0, 1)')

    def momentum(self, group: Dict[str, Any]) -> float:
        r"""$\beta_1$ is the interpolation $\beta$."""
        return group['betas'][0]

    def init_state(self, state: Dict[str, Any], group: Dict[str, Any], param: nn.Parameter):
        """
        ### Initialize the state of a parameter

        Schedule-Free's `z` and counters, and `exp_avg_sq`, $v_t$.
        """
        super().init_state(state, group, param)
        state['exp_avg_sq'] = torch.zeros_like(param, memory_format=torch.preserve_format)

    def step_numbers(self, state: Dict[str, Any], group: Dict[str, Any]) -> Numbers:
        r"""
        ### The numbers of step $t$

        Schedule-Free's, and Adam's $\beta_2$, $\epsilon$ and $1 - \beta_2^t$.
        """
        numbers = super().step_numbers(state, group)
        beta2 = group['betas'][1]
        numbers.update(beta2=beta2, eps=group['eps'], bias_correction2=1 - beta2 ** state['step'])
        return numbers

    def step_param(self, state: Dict[str, Any], numbers: Numbers, grad: torch.Tensor, param: nn.Parameter):
        """
        ### Update one parameter
        """
        v = state['exp_avg_sq']
        # $v_t \leftarrow \beta_2 v_{t-1} + (1 - \beta_2) g_t^2$
        v.mul_(numbers.beta2).addcmul_(grad, grad * (1 - numbers.beta2))
        # $\sqrt{v_t / (1 - \beta_2^t)} + \epsilon$
        denominator = (v / numbers.bias_correction2).sqrt_().add_(numbers.eps)
        # $\frac{g_t}{\sqrt{v_t / (1 - \beta_2^t)} + \epsilon} + \lambda y_t$
        step = self.weight_decay(param, grad / denominator, numbers)
        self.average_step(state, numbers, step, param)


class ScheduleFreeAdamWPaper(ScheduleFreeAdamW):
    r"""
    <a id="ScheduleFreeAdamWPaper"></a>

    ## The paper's form

    The arguments of `ScheduleFreeAdamW`. The bias correction of $v_t$ moves from the denominator
    into the learning rate, as in the paper's Algorithm 1:

    $$z_{t+1} = z_t - \alpha_t \left( \frac{g_t}{\sqrt{v_t} + \epsilon} + \lambda y_t \right),
      \qquad \alpha_t = \alpha \sqrt{1 - \beta_2^t} \min(1, t / T_{warmup})$$

    This is the same step with $\epsilon$ replaced by $\epsilon / \sqrt{1 - \beta_2^t}$, which
    is about 30 times larger at $t = 1$ (with $\beta_2 = 0.999$) and the same once
    $\beta_2^t \approx 0$; and since $\alpha_t$ rises with $t$, the first steps count less in the average.
    """

    def learning_rate(self, state: Dict[str, Any], group: Dict[str, Any]) -> float:
        r"""$\alpha_t = \alpha \sqrt{1 - \beta_2^t} \min(1, t / T_{warmup})$"""
        return super().learning_rate(state, group) * math.sqrt(1 - group['betas'][1] ** state['step'])

    def step_numbers(self, state: Dict[str, Any], group: Dict[str, Any]) -> Numbers:
        r"""With the correction in $\alpha_t$, the denominator is $\sqrt{v_t} + \epsilon$: divide $v_t$ by one."""
        numbers = super().step_numbers(state, group)
        numbers.update(bias_correction2=1.0)
        return numbers
