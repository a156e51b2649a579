r"""
---
title: Adam optimizer
summary: An annotated PyTorch implementation of Adam, with the optimized update that folds bias correction into the step size.
---

# Adam

Adam, from [*Adam: A Method for Stochastic Optimization*](https://arxiv.org/abs/1412.6980)
by Kingma and Ba, keeps two exponential moving averages for every parameter: one of the
gradient $g_t$ and one of its element-wise square. With learning rate $\alpha$, decay rates
$\beta_1, \beta_2$ and a small $\epsilon$, one step is

\begin{align}
m_t &\leftarrow \beta_1 m_{t-1} + (1 - \beta_1) g_t \\
v_t &\leftarrow \beta_2 v_{t-1} + (1 - \beta_2) g_t^2 \\
\hat{m}_t &\leftarrow \frac{m_t}{1 - \beta_1^t} \\
\hat{v}_t &\leftarrow \frac{v_t}{1 - \beta_2^t} \\
\theta_t &\leftarrow \theta_{t-1} - \alpha \frac{\hat{m}_t}{\sqrt{\hat{v}_t} + \epsilon}
\end{align}

## Why it works

$m_t$ is momentum: it averages out noise in the gradient and keeps moving along directions
that stay consistent from step to step. $v_t$ estimates the scale of each coordinate's gradient,
and dividing by $\sqrt{\hat{v}_t}$ makes the step in every coordinate about $\alpha$ in size,
however large or small its gradients are: multiplying the loss by $100$ leaves every step as it was
(as long as $\sqrt{\hat{v}_t} \gg \epsilon$).

$\alpha$ is therefore an *approximate* bound on each coordinate's step, not a strict one. Kingma and
Ba (section 2.1) work out the worst case they consider: a gradient $g$ after a long run of zeros
gives $\hat{m}_t \approx (1 - \beta_1) g$ and $\hat{v}_t \approx (1 - \beta_2) g^2$, so the step is
$\alpha \frac{1 - \beta_1}{\sqrt{1 - \beta_2}} \approx 3.16 \alpha$ with the default betas. That is
not the largest step either. By Cauchy-Schwarz, for $\beta_1^2 < \beta_2$ and large $t$,

$$\frac{\lvert \hat{m}_t \rvert}{\sqrt{\hat{v}_t}} \le \frac{1 - \beta_1}{\sqrt{(1 - \beta_2)(1 - \beta_1^2 / \beta_2)}}
  \approx 7.27$$

reached, late in a run, by gradients that have grown by a factor $\beta_2 / \beta_1 \approx 1.11$
every step for the last few dozen steps. In training, where the gradients of one coordinate are of
a similar size from step to step, the step is about $\alpha$ or less, and the noisier the gradient,
the smaller it is.

Nor do rare gradients move a parameter as much as frequent ones. A coordinate that gets a gradient
$g$ once every $100$ steps and zero otherwise settles at $v_t \approx (1 - \beta_2) g^2 / (1 - \beta_2^{100})$,
about $0.0105 g^2$, and moves about $9.8 \alpha$ in total over the hundred steps after each
gradient. A coordinate that gets $g$ on every step moves $100 \alpha$ in the same time. What the
division removes is the dependence on the gradient's *scale*, not on its frequency.
`tests/optimizers/test_adam.py` checks all three numbers against this class.

## Why bias correction

Both averages start at zero, so early on they are pulled towards zero. Unrolling the recurrence,
$m_t = (1 - \beta_1) \sum_{i=1}^{t} \beta_1^{t-i} g_i$. If the gradients have a steady mean
$\mathbb{E}[g]$, then $\mathbb{E}[m_t] = (1 - \beta_1^t) \mathbb{E}[g]$: dividing by
$1 - \beta_1^t$ removes the bias exactly. The same holds for $v_t$ with $\beta_2$. Without the
correction, $\beta_2 = 0.999$ would leave $v_t$ about a thousand times too small in the first
step, and the first steps would be far too large.

## The optimized update

The two corrections divide full-size tensors, costing two extra passes over memory on every step.
Both are scalars, so they can move into the step size instead:

$$\theta_t \leftarrow \theta_{t-1} - \alpha \frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t}
  \cdot \frac{m_t}{\sqrt{v_t} + \hat{\epsilon}}$$

For this to be the same update, $\hat{\epsilon}$ cannot be $\epsilon$. Start from the textbook
denominator and multiply it by $\sqrt{1-\beta_2^t}$:

$$\sqrt{\hat{v}_t} + \epsilon = \frac{\sqrt{v_t}}{\sqrt{1-\beta_2^t}} + \epsilon
  = \frac{\sqrt{v_t} + \epsilon \sqrt{1-\beta_2^t}}{\sqrt{1-\beta_2^t}}$$

so the two forms agree exactly when

$$\hat{\epsilon} = \epsilon \sqrt{1-\beta_2^t}$$

Early in training $\sqrt{1-\beta_2^t}$ is small (about $0.03$ at $t = 1$ with $\beta_2 = 0.999$),
so keeping $\epsilon$ unchanged would make it some thirty times too strong exactly when the
gradients are new. The difference is invisible when $\sqrt{v_t} \gg \epsilon$, and a real drift
when gradients are tiny. That is why the code below rescales it on every step.
"""

import math
from typing import Any, Dict, Optional, Tuple, Union

import torch
from torch import nn

from labml_opt.optimizer import GenericAdaptiveOptimizer, Numbers, Params, WeightDecay, as_weight_decay


class Adam(GenericAdaptiveOptimizer):
    """
    ## Adam optimizer

    The update is split into hooks so that each variant overrides one idea: the warm-up schedules
    change `get_lr`, and [RAdam](radam.html) changes `step_numbers` and `adam_update`.
    `amsgrad=True` divides by the largest $v_t$ so far, as `torch.optim.Adam(amsgrad=True)` does;
    [AMSGrad](amsgrad.html) explains why.
    """

    # With `state_dtype='8bit'`, $m_t$ is kept in the signed code map, $v_t$ and $v^{\max}_t$ in
    # the unsigned one (see [low-precision state](low_precision.html#blockwise))
    quantized_state = {'exp_avg': 'signed', 'exp_avg_sq': 'unsigned', 'max_exp_avg_sq': 'unsigned'}

    def __init__(self, params: Params, lr: float = 1e-3, betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: Union[float, WeightDecay] = 0., amsgrad: bool = False,
                 optimized_update: bool = True, maximize: bool = False,
                 defaults: Optional[Dict[str, Any]] = None, *, foreach: Optional[bool] = None,
                 capturable: bool = False, differentiable: bool = False, fused: Optional[bool] = None,
                 decoupled_weight_decay: bool = False, state_dtype: Optional[Union[torch.dtype, str]] = None,
                 kahan_sum: bool = False, seed: int = 0):
        r"""
        * `params` is the list of parameters, or of param groups
        * `lr` is the learning rate $\alpha$, a float or a 1-element tensor
        * `betas` is the pair $(\beta_1, \beta_2)$
        * `eps` is $\epsilon$
        * `weight_decay` is $\lambda$: a float means $L_2$ regularization, as in `torch.optim.Adam`;
          pass a [`WeightDecay`](optimizer.html#WeightDecay) for another rule
        * `amsgrad` divides by $\sqrt{v^{\max}_t}$, the largest $v_t$ so far, as [AMSGrad](amsgrad.html)
        * `optimized_update` folds bias correction into the step size, as derived above
        * `maximize` ascends the objective instead of descending it
        * `defaults` holds extra group defaults from subclasses
        * `decoupled_weight_decay` makes a float `weight_decay` decoupled, as in [AdamW](adamw.html)
        * `foreach`, `fused`, `capturable` and `differentiable` are torch's implementation keywords; see
          [`implementation_options`](optimizer.html#GenericAdaptiveOptimizer)
        * `state_dtype`, `kahan_sum` and `seed` store $m_t$ and $v_t$ (`torch.bfloat16` or `'8bit'`)
          or a parameter in low precision, as [low-precision state](low_precision.html) explains

        `amsgrad` and the rule of weight decay are keys of each param group, as in `torch.optim`,
        so a saved group brings its own back.
        """
        self.weight_decay = as_weight_decay(weight_decay, decoupled=decoupled_weight_decay)
        if foreach and not capturable:
            # `torch.optim.Adam`'s multi-tensor step reads them as floats, and refuses tensors
            for name, value in (('lr', lr), ('beta1', betas[0]), ('beta2', betas[1])):
                self.check(name, value, not isinstance(value, torch.Tensor), 'a float with foreach=True')
        defaults = {} if defaults is None else defaults
        defaults = dict(defaults, **self.weight_decay.defaults(), lr=lr, betas=tuple(betas), eps=eps,
                        amsgrad=amsgrad, maximize=maximize,
                        decoupled_weight_decay=self.weight_decay.weight_decouple,
                        **self.implementation_options(foreach, differentiable, capturable, fused))
        super().__init__(params, defaults, state_dtype=state_dtype, kahan_sum=kahan_sum, seed=seed)
        self.optimized_update = optimized_update

    def init_state(self, state: Dict[str, Any], group: Dict[str, Any], param: nn.Parameter):
        r"""
        ### Initialize the state of a parameter

        * `step` is $t$, the number of updates this parameter has had
        * `exp_avg` is $m_t$, the moving average of gradients
        * `exp_avg_sq` is $v_t$, the moving average of squared gradients
        * `max_exp_avg_sq` is $v^{\max}_t$, only with `amsgrad`
        """
        state['step'] = 0
        state['exp_avg'] = torch.zeros_like(param, memory_format=torch.preserve_format)
        state['exp_avg_sq'] = torch.zeros_like(param, memory_format=torch.preserve_format)
        if group['amsgrad']:
            state['max_exp_avg_sq'] = torch.zeros_like(param, memory_format=torch.preserve_format)

    def get_lr(self, state: Dict[str, Any], group: Dict[str, Any]) -> float:
        r"""
        ### The learning rate $\alpha$

        The group's `lr`, which schedulers set. Warm-up variants compute it from the step instead.
        """
        return group['lr']

    def step_numbers(self, state: Dict[str, Any], group: Dict[str, Any]) -> Numbers:
        r"""
        ### The numbers of step $t$

        Everything in the step that is the same for every element, computed once in Python.
        """
        # $t \leftarrow t + 1$; `state['step']` may be a 0-d tensor, as [SharedAdam](shared_adam.html) keeps it
        state['step'] += 1
        step = int(state['step'])
        beta1, beta2 = group['betas']
        # $1 - \beta_1^t$ and $1 - \beta_2^t$
        bias_correction1 = 1 - beta1 ** step
        bias_correction2 = 1 - beta2 ** step
        lr = self.get_lr(state, group)
        numbers = Numbers(self.weight_decay.numbers(group), lr=lr, beta1=beta1, beta2=beta2, eps=group['eps'],
                          amsgrad=group['amsgrad'])
        numbers.update(bias_correction1=bias_correction1, bias_correction2=bias_correction2,
                       sqrt_bias_correction2=math.sqrt(bias_correction2))
        if self.optimized_update:
            # $\hat{\epsilon} = \epsilon \sqrt{1-\beta_2^t}$
            numbers.update(eps_hat=group['eps'] * math.sqrt(bias_correction2))
            # $\alpha \frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t}$
            numbers.update(step_size=lr * math.sqrt(bias_correction2) / bias_correction1)
        else:
            # $\frac{\alpha}{1-\beta_1^t}$
            numbers.update(step_size=lr / bias_correction1)
        return numbers

    def get_mv(self, state: Dict[str, Any], numbers: Numbers, grad: torch.Tensor):
        r"""
        ### Update the moving averages $m_t$ and $v_t$

        Both are updated in place, so the step allocates nothing for them. Returns $m_t$ and the
        second moment the step divides by: $v_t$, or $v^{\max}_t$ with `amsgrad`.
        """
        m, v = state['exp_avg'], state['exp_avg_sq']
        # $m_t \leftarrow \beta_1 m_{t-1} + (1 - \beta_1) g_t$, written as
        # $m_{t-1} + (1 - \beta_1)(g_t - m_{t-1})$
        m.lerp_(grad, 1 - numbers.beta1)
        # $v_t \leftarrow \beta_2 v_{t-1} + (1 - \beta_2) g_t^2$
        v.mul_(numbers.beta2).addcmul_(grad, grad * (1 - numbers.beta2))
        # (a variant whose numbers leave `amsgrad` out keeps no maximum)
        if not numbers.get('amsgrad', False):
            return m, v
        v_max = state['max_exp_avg_sq']
        # $v^{\max}_t \leftarrow \max(v^{\max}_{t-1}, v_t)$, in place; the step then divides by it
        v_max.clamp_(min=v)
        return m, v_max

    def denominator(self, numbers: Numbers, v: torch.Tensor) -> torch.Tensor:
        r"""
        ### The denominator

        $\sqrt{v_t} + \hat{\epsilon}$ for the optimized update, which is $\sqrt{1-\beta_2^t}$ times the
        textbook $\sqrt{\hat{v}_t} + \epsilon$; or the textbook form itself.
        """
        if self.optimized_update:
            # $\sqrt{v_t} + \hat{\epsilon}$, added out of place: a `differentiable` step needs the root itself
            return v.sqrt() + numbers.eps_hat
        # $\sqrt{\hat{v}_t} + \epsilon = \frac{\sqrt{v_t}}{\sqrt{1-\beta_2^t}} + \epsilon$
        return (v.sqrt() / numbers.sqrt_bias_correction2).add_(numbers.eps)

    def adam_update(self, state: Dict[str, Any], numbers: Numbers, param: nn.Parameter,
                    m: torch.Tensor, v: torch.Tensor):
        r"""
        ### Take the Adam step

        * `param` is $\theta_{t-1}$, updated in place to $\theta_t$
        * `m` and `v` are $m_t$ and $v_t$
        """
        denominator = self.denominator(numbers, v)
        # $\theta_t \leftarrow \theta_{t-1} - \alpha \frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t}
        #   \cdot \frac{m_t}{\sqrt{v_t} + \hat{\epsilon}}$, or in the textbook form
        #   $\theta_{t-1} - \frac{\alpha}{1-\beta_1^t} \cdot \frac{m_t}{\sqrt{\hat{v}_t} + \epsilon}$
        param.sub_(numbers.step_size * m / denominator)

    def step_param(self, state: Dict[str, Any], numbers: Numbers, grad: torch.Tensor, param: nn.Parameter):
        """
        ### Update one parameter

        * `grad` is $g_t$, the gradient of the loss with respect to `param`
        """
        # Weight decay first: $L_2$ changes $g_t$, decoupled decay shrinks $\theta_{t-1}$
        grad = self.weight_decay(param, grad, numbers)
        m, v = self.get_mv(state, numbers, grad)
        self.adam_update(state, numbers, param, m, v)
