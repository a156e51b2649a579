r"""
---
title: Schedule-Free SGD
summary: An annotated PyTorch implementation of Schedule-Free SGD, which replaces the learning-rate schedule with an average of the iterates, and the train and eval modes it needs.
---

# Schedule-Free SGD

From [*The Road Less Scheduled*](https://arxiv.org/abs/2405.15682) by Defazio, Yang, Mehta,
Mishchenko, Khaled and Cutkosky (2024). Its AdamW form won the self-tuning track of the
AlgoPerf 2024 training-algorithms benchmark. This page explains the method with SGD, where it is
simplest; [Schedule-Free AdamW](schedule_free_adamw.html) changes only the gradient step.

## The problem: a schedule needs to know when training ends

The best results in deep learning come with a learning rate that decays to zero at the end of
training: a cosine or linear schedule. Such a schedule has to be given the total number of steps
$T$ in advance. Stop early and the weights are those of a high learning rate; decide to train
longer and the run must start again with a new schedule.

Theory has long had an answer that needs no $T$: run SGD with a constant learning rate and return
the *average* of its iterates (Polyak–Ruppert averaging). The average converges at the optimal
rate. In practice it does much worse than a schedule, because it gives the early, poor iterates as
much weight as the late ones. Schedule-Free keeps the average but evaluates the gradients at a
point between the average and the latest iterate, and in practice matches or beats tuned cosine
schedules, without a schedule.

## Three sequences

With learning rate $\alpha$ and momentum $\beta$, start from $z_1 = x_1$ and, for $t = 1, 2, \dots$:

\begin{align}
y_t &= (1 - \beta) z_t + \beta x_t \\
z_{t+1} &= z_t - \alpha \nabla f(y_t) \\
x_{t+1} &= (1 - c_{t+1}) x_t + c_{t+1} z_{t+1}
\end{align}

* $z_t$ is plain SGD, with gradients taken at $y_t$.
* $x_t$ is a weighted average of the $z$'s, and is the model to evaluate and to deploy. With
  $c_{t+1} = 1/t$ it is their plain average, $x_{T+1} = \frac{1}{T} \sum_{t=2}^{T+1} z_t$.
* $y_t$, where the gradient is computed, interpolates between the two. With $\beta = 0$ the method
  is SGD with Polyak averaging; with $\beta = 1$ it is *primal averaging*, which is SGD with
  momentum and a decaying schedule in disguise. The paper's $\beta = 0.9$ lies in between, and
  behaves like momentum whose schedule is set by how long training has run so far.

## The weights of the average

The averaging weight of step $t$ is $w_t$, and

$$c_{t+1} = \frac{w_t}{\sum_{i=1}^{t} w_i}, \qquad w_t = t^r \big( \max_{i \le t} \alpha_i \big)^p$$

where $\alpha_t$ is the learning rate of step $t$ after the built-in linear warm-up over
`warmup_steps`, $r$ is `r` and $p$ is `weight_lr_power`. With the defaults $r = 0$, $p = 2$ and no
warm-up, every weight is $\alpha^2$ and $x$ is the plain average. During a warm-up the early steps,
taken at small learning rates, count less; $r > 0$ favours later iterates further.

## Storing two sequences instead of three

The gradient is needed at $y$, so the parameters hold $y_t$ during training, and the state holds
$z_t$. The average is never stored: $x_t = \big(y_t - (1 - \beta) z_t\big) / \beta$. Substituting
the updates of $z$ and $x$ into $y_{t+1} = (1 - \beta) z_{t+1} + \beta x_{t+1}$ gives a step on $y$
that needs only $y_t$, $z_t$ and the gradient $g_t = \nabla f(y_t)$:

\begin{align}
y_{t+1} &= (1 - c_{t+1}) y_t + c_{t+1} z_t + \alpha \big( \beta (1 - c_{t+1}) - 1 \big) g_t \\
z_{t+1} &= z_t - \alpha g_t
\end{align}

## Train and eval modes

So the parameters hold $y$ while training, but a model should be evaluated at $x$. Call
`optimizer.eval()` before evaluating or saving the model, which sets each parameter to
$x = y + (1 - 1/\beta)(z - y)$, and `optimizer.train()` before training again, which sets it back
to $y = x + (1 - \beta)(z - x)$. Stepping in eval mode would compute the wrong update, so it raises
an error; the optimizer starts in eval mode, as the reference's does, so call `train()` first. The
mode is kept in each param group (`train_mode`), so it is saved and restored with the
`state_dict`. One caveat: batch-norm statistics are collected at $y$; recompute them at $x$
before evaluating.

## Memory per parameter

One tensor of state, $z$: 4 bytes per `float32` parameter, as for SGD with momentum. Its time
per step, next to `schedulefree`'s, is in [the benchmark](fast.html#benchmark).

## What to tune

* $\alpha$ (`lr`): much larger than for SGD with a schedule; the reference package's README
  suggests starting 10 to 50 times above the usual rates, and its default is 1. There is no
  schedule to tune, and no lr scheduler should be used besides the built-in warm-up.
* $\beta$ (`momentum`): 0.9; the README finds that very long runs may need 0.95 or 0.98, and that
  training is more sensitive to it than to an ordinary momentum.
* `warmup_steps`: a linear warm-up, where scheduled training would have one.
* `weight_decay`: added to the gradient at $y$ ($L_2$), as in the reference.

## The reference implementation, and where it departs from the paper

The arguments and defaults are those of
[`schedulefree.SGDScheduleFree`](https://github.com/facebookresearch/schedule_free), and the tests
hold this page to it, in train and eval mode.

* **The first average.** The paper states its theory with $c_{t+1} = 1 / (t + 1)$, which keeps
  the starting point $z_1$ in the average. The reference, like the paper's own AdamW algorithm,
  gives the first step the weight $c_2 = 1$, so $x$ averages the iterates the steps produce and
  forgets the starting point. The difference shrinks as $1/T$; this page follows the reference,
  and the tests check $x$ against the average above, computed from the recorded $z$'s.
* **Weights from the largest learning rate so far.** The paper's AdamW algorithm weights step $t$
  by $\alpha_t^2$. The reference weights it by $(\max_{i \le t} \alpha_i)^2$. The two agree while
  the learning rate only rises, as in a warm-up; when a user lowers it, the reference keeps
  weighting new iterates fully. This page follows the reference.
* **Step counts.** The reference counts steps, the weight sum and the largest learning rate per
  param group, and this class per parameter, like `torch.optim`. They differ only for a parameter
  that skips steps without a gradient; here such a parameter's average is over its own steps.
* **Gradients.** The reference overwrites `param.grad` with the normalized, decayed gradient; this
  class leaves it as the user's. `foreach` chooses the reference's implementation and is accepted
  so that code written for it runs unchanged; here the group key `fast` chooses between the code as
  written and [the compiled fast path](fast.html).
"""

from typing import Any, Dict, Optional

import torch
from torch import nn

from labml_opt import low_precision
from labml_opt.optimizer import GenericAdaptiveOptimizer, Numbers, Params, WeightDecay


class ScheduleFree(GenericAdaptiveOptimizer):
    r"""
    <a id="ScheduleFree"></a>

    ## The Schedule-Free averaging

    What every Schedule-Free optimizer shares: the train and eval modes, the weights $c_{t+1}$,
    and the step on $y$ and $z$. A subclass says which $\beta$ is its momentum and what gradient
    step $z$ takes: SGD's $g_t$ here, AdamW's $g_t / (\sqrt{\hat{v}_t} + \epsilon)$.
    """

    # $z$ is a point among the weights, not an average of gradients: `state_dtype` leaves it in the
    # parameter's dtype (see `full_precision_state`)
    full_precision_state = ('z',)

    def __init__(self, params: Params, defaults: Dict[str, Any], **low_precision: Any):
        """
        `defaults` has the subclass's hyper-parameters, `weight_decay` among them, and
        `low_precision` the options `state_dtype`, `kahan_sum` and `seed`
        ([low-precision state](low_precision.html)).
        """
        self.weight_decay = WeightDecay(defaults['weight_decay'], weight_decouple=False)
        # Like the reference, an optimizer starts in eval mode.
        super().__init__(params, dict(defaults, train_mode=False), **low_precision)

    def add_param_group(self, param_group: Dict[str, Any]):
        """
        A group added later, as when layers are unfrozen during training, joins in the mode of the
        others: its new parameters have no $z$ yet, so they hold $x = y = z$ in either mode.
        """
        if self.param_groups:
            param_group.setdefault('train_mode', self.param_groups[0]['train_mode'])
        super().add_param_group(param_group)

    def check_hyperparameters(self, defaults: Dict[str, Any]):
        super().check_hyperparameters(defaults)
        self.check('warmup_steps', defaults['warmup_steps'], defaults['warmup_steps'] >= 0, '>= 0')
        self.check('r', defaults['r'], defaults['r'] >= 0, '>= 0')
        self.check('weight_lr_power', defaults['weight_lr_power'], defaults['weight_lr_power'] >= 0, '>= 0')

    def momentum(self, group: Dict[str, Any]) -> float:
        r"""$\beta$, the interpolation of $y$ between $z$ and $x$."""
        raise NotImplementedError

    @torch.no_grad()
    def eval(self):
        r"""
        ### Set the parameters to the average $x$

        $x = y + (1 - 1/\beta)(z - y)$, for every parameter that has taken a step.
        """
        for group in self.param_groups:
            if group['train_mode']:
                beta = self.momentum(group)
                for param in group['params']:
                    # `get`, not `[]`: reading `state` would create an empty entry, and an optimizer whose
                    # state has entries looks to `torch.distributed.checkpoint` as if it had stepped
                    state = self.state.get(param, {})
                    if 'z' in state:
                        self.toward_z(param, state, 1 - 1 / beta)
                group['train_mode'] = False

    @torch.no_grad()
    def train(self):
        r"""
        ### Set the parameters to $y$, where gradients are taken

        $y = x + (1 - \beta)(z - x)$.
        """
        for group in self.param_groups:
            if not group['train_mode']:
                beta = self.momentum(group)
                for param in group['params']:
                    state = self.state.get(param, {})
                    if 'z' in state:
                        self.toward_z(param, state, 1 - beta)
                group['train_mode'] = True

    def toward_z(self, param: torch.Tensor, state: Dict[str, Any], weight: float):
        r"""
        $\theta \leftarrow \theta + w (z - \theta)$, outside the step. A `bfloat16` parameter whose
        step is [computed in `float32`](low_precision.html#step_in_float32) keeps $z$ in `float32`,
        and is moved as a step moves it: in `float32`, from the weight with its
        [Kahan compensation](low_precision.html#kahan_round) if it has one, and rounded again.
        """
        if param.dtype != torch.bfloat16 or not self.low_precision():
            param.lerp_(state['z'], weight)
            return
        compensation = state.get('kahan_comp')
        wide = param.float() if compensation is None else param.float() + compensation.float()
        wide.lerp_(state['z'], weight)
        param.copy_(wide if compensation is None else low_precision.kahan_round(wide, compensation))

    def step(self, closure=None):
        """
        ### One optimization step, in train mode only
        """
        for group in self.param_groups:
            if not group['train_mode']:
                raise RuntimeError(f'{type(self).__name__} was not in train mode when step() was called: '
                                   f'call optimizer.train() before training and optimizer.eval() before evaluating')
        return super().step(closure)

    def init_state(self, state: Dict[str, Any], group: Dict[str, Any], param: nn.Parameter):
        r"""
        ### Initialize the state of a parameter

        * `z` is $z_t$, starting at the parameter, $z_1 = x_1 = y_1$
        * `step` is $t - 1$, the number of steps taken
        * `weight_sum` is $\sum_{i \le t} w_i$ and `lr_max` is $\max_{i \le t} \alpha_i$
          (negative before the first step)
        """
        state['step'] = 0
        state['weight_sum'] = 0.0
        state['lr_max'] = -1.0
        state['z'] = param.detach().clone(memory_format=torch.preserve_format)

    def learning_rate(self, state: Dict[str, Any], group: Dict[str, Any]) -> float:
        r"""
        ### The learning rate $\alpha_t$

        The group's `lr`, after a linear warm-up over `warmup_steps`: $\alpha \min(1, t / T_{warmup})$.
        """
        step, warmup = state['step'], group['warmup_steps']
        return group['lr'] * (step / warmup if step <= warmup else 1.0)

    def step_numbers(self, state: Dict[str, Any], group: Dict[str, Any]) -> Numbers:
        r"""
        ### The numbers of step $t$
        """
        state['step'] += 1
        step = state['step']
        lr = self.learning_rate(state, group)
        state['lr_max'] = max(lr, state['lr_max'])
        # $w_t = t^r (\max_{i \le t} \alpha_i)^p$
        weight = step ** group['r'] * state['lr_max'] ** group['weight_lr_power']
        state['weight_sum'] += weight
        # $c_{t+1} = w_t / \sum_{i \le t} w_i$, and $0$ while every learning rate so far was $0$
        c = weight / state['weight_sum'] if state['weight_sum'] != 0 else 0.0
        beta = self.momentum(group)
        return Numbers(self.weight_decay.numbers(group), lr=lr, c=c,
                       # $\alpha (\beta (1 - c_{t+1}) - 1)$
                       y_step=lr * (beta * (1 - c) - 1))

    def average_step(self, state: Dict[str, Any], numbers: Numbers, step: torch.Tensor, y: nn.Parameter):
        r"""
        ### Update $y$ and $z$

        * `step` is the gradient step of $z$: $g_t$ for SGD
        * `y` is the parameter, $y_t$, updated in place to $y_{t+1}$
        """
        z = state['z']
        # $y_{t+1} = (1 - c_{t+1}) y_t + c_{t+1} z_t + \alpha (\beta (1 - c_{t+1}) - 1) g_t$
        y.lerp_(z, numbers.c)
        y.add_(numbers.y_step * step)
        # $z_{t+1} = z_t - \alpha g_t$
        z.sub_(numbers.lr * step)


class ScheduleFreeSGD(ScheduleFree):
    """
    ## Schedule-Free SGD
    """

    def __init__(self, params: Params, lr: float = 1.0, momentum: float = 0.9, weight_decay: float = 0,
                 warmup_steps: int = 0, r: float = 0.0, weight_lr_power: float = 2,
                 foreach: Optional[bool] = True):
        r"""
        * `lr` is $\alpha$
        * `momentum` is $\beta$, in $(0, 1)$: $x$ is recovered by dividing by it
        * `weight_decay` is $\lambda$, added to the gradient at $y$: $g_t + \lambda y_t$
        * `warmup_steps` is the length of the linear warm-up of $\alpha$
        * `r` and `weight_lr_power` are $r$ and $p$ of the weights $w_t$
        * `foreach` is accepted for compatibility and does nothing

        It keeps no state but $z$, an [iterate](#ScheduleFree): there is nothing to keep in low precision.
        """
        self.check('momentum', momentum, 0 < momentum < 1, 'in (0, 1)')
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, warmup_steps=warmup_steps,
                                      r=r, weight_lr_power=weight_lr_power))

    def momentum(self, group: Dict[str, Any]) -> float:
        return group['momentum']

    def step_param(self, state: Dict[str, Any], numbers: Numbers, grad: torch.Tensor, param: nn.Parameter):
        """
        ### Update one parameter
        """
        # $g_t + \lambda y_t$
        grad = self.weight_decay(param, grad, numbers)
        self.average_step(state, numbers, grad, param)
