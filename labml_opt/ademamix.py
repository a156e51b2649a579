r"""
---
title: AdEMAMix optimizer
summary: An annotated PyTorch implementation of AdEMAMix, Adam with a second, very slow moving average of the gradient, so that gradients from thousands of steps ago still count.
---

# AdEMAMix

AdEMAMix, from [*The AdEMAMix Optimizer: Better, Faster, Older*](https://arxiv.org/abs/2409.03137)
by Pagliardini, Ablin and Grangier (2024), is [Adam](adam.html) with one more moving average of
the gradient: a very slow one, added to Adam's momentum in the numerator. In the paper, a language
model of 1.3 billion parameters trained with AdEMAMix on 101 billion tokens does as well as one
trained with AdamW on 197 billion, and the trained models forget their training data more slowly.

## The problem: one average cannot be both fast and long

A moving average with decay $\beta$ remembers about $1 / (1 - \beta)$ steps: Adam's
$\beta_1 = 0.9$ remembers ten. The paper finds that gradients from many thousands of steps ago
still point somewhere useful, so a momentum with $\beta = 0.9999$, which remembers ten thousand
steps, should help. But on its own such a momentum reacts to a change of the loss landscape ten
thousand steps late, and training fails. The recent gradients need a small $\beta$, the old ones a
large one. AdEMAMix keeps **both** averages and adds them:

\begin{align}
m_{1,t} &\leftarrow \beta_1 m_{1,t-1} + (1 - \beta_1) g_t \\
m_{2,t} &\leftarrow \beta_3 m_{2,t-1} + (1 - \beta_3) g_t \\
v_t &\leftarrow \beta_2 v_{t-1} + (1 - \beta_2) g_t^2 \\
\hat{m}_{1,t} &\leftarrow \frac{m_{1,t}}{1 - \beta_1^t} \qquad
\hat{v}_t \leftarrow \frac{v_t}{1 - \beta_2^t} \\
\theta_t &\leftarrow \theta_{t-1} - \alpha \left( \frac{\hat{m}_{1,t} + a m_{2,t}}{\sqrt{\hat{v}_t} + \epsilon}
  + \lambda \theta_{t-1} \right)
\end{align}

$m_{2,t}$ is not bias-corrected: early on it is close to zero, and it grows in as it fills, which
is what a momentum over ten thousand steps should do while it has seen ten. With $a = 0$ the
slow average is computed but never used, and the step is exactly Adam's (AdamW's, with the
decoupled $\lambda$ above); the tests hold it to `torch.optim.Adam` and `torch.optim.AdamW`.

## Warming up $a$ and $\beta_3$

Early in training the weights change quickly, and a slow average full of stale gradients makes
the first steps unstable. The paper therefore grows the slow average's weight and memory over the
first $T$ steps (`t_alpha_beta3`; the paper uses the whole run):

\begin{align}
a_t &= \min \left( \frac{t a}{T}, a \right) \\
\beta_{3,t} &= \min \left( \exp \left( \frac{\ln \beta_1 \ln \beta_3}
  {(1 - t/T) \ln \beta_3 + (t/T) \ln \beta_1} \right), \beta_3 \right)
\end{align}

$a_t$ rises linearly. $\beta_{3,t}$ starts at $\beta_1$ and ends at $\beta_3$, along a path on
which the *half-life* of the average, $\ln \frac{1}{2} / \ln \beta$, rises linearly: a linear
schedule of $\beta_3$ itself would stay short for almost all of $T$ and then jump. With
`t_alpha_beta3=None` (the default) both stay at their final values from the first step.

## Memory per parameter

Three tensors of state, $m_1$, $m_2$ and $v$: 12 bytes per `float32` parameter, against Adam's 8. Its
time per step, next to `pytorch_optimizer`'s, is in [the benchmark](fast.html#benchmark).

## What to tune

* $\alpha$ (`lr`), $\beta_1$, $\beta_2$, $\epsilon$: as for AdamW; the paper keeps AdamW's values.
* $\beta_3$ and $a$: $0.9999$ and $5$ by default. A larger $\beta_3$ remembers longer, a
  larger $a$ gives the old gradients more say, and both make the warm-up matter more.
* $T$ (`t_alpha_beta3`): the paper sets it to the total number of steps. Without it, a large
  $\beta_3$ with a large $a$ can diverge early.

## The reference implementation, and where it departs from the paper

The arguments and defaults are those of
[`pytorch_optimizer.AdEMAMix`](https://github.com/kozistr/pytorch_optimizer) (PyPI
`pytorch-optimizer`), and the tests hold this page to it, in both of its ways of decaying weights.

* **Weight decay.** The paper decays like AdamW, $\alpha \lambda \theta_{t-1}$ outside the adaptive
  step. The reference's default, `weight_decouple=False`, adds $\lambda \theta_{t-1}$ to the
  gradient instead ($L_2$ regularization, as `torch.optim.Adam` does), which then passes through
  $\sqrt{\hat{v}_t}$. The two are the same only at the default $\lambda = 0$. Pass
  `weight_decouple=True` for the paper's rule, and `fixed_decay=True` as well to decay by
  $\lambda$ without $\alpha$. `fixed_decay` without `weight_decouple` means nothing, and is refused.
* **The step count.** The reference counts steps per param group, and this class per parameter,
  as `torch.optim` does. They differ only for a parameter that skips steps without a gradient.
* **Other arguments.** `foreach` chooses the reference's implementation and is accepted so that
  code written for it runs unchanged; here the group key `fast` chooses between the code as
  written and [the compiled fast path](fast.html). The reference also takes extra keyword
  arguments (`cautious`, `stable_adamw`) that this class does not implement.
"""

import math
from typing import Any, Dict, Optional, Tuple, Union

import torch
from torch import nn

from labml_opt.adam import Adam
from labml_opt.optimizer import Numbers, Params, WeightDecay


class AdEMAMix(Adam):
    """
    ## AdEMAMix optimizer

    Adam's hooks, each extended by the slow average: `init_state` creates it, `get_mv` updates it,
    and `adam_update` adds it to the numerator.
    """

    # In 8 bits, the slow average $m_2$ in the signed code map, as $m_1$ is
    quantized_state = dict(Adam.quantized_state, exp_avg_slow='signed')

    def __init__(self, params: Params, lr: float = 1e-3, betas: Tuple[float, float, float] = (0.9, 0.999, 0.9999),
                 weight_decay: float = 0.0, weight_decouple: bool = False, fixed_decay: bool = False,
                 alpha: float = 5.0, t_alpha_beta3: Optional[float] = None, eps: float = 1e-8,
                 maximize: bool = False, foreach: Optional[bool] = None, *,
                 state_dtype: Optional[Union[torch.dtype, str]] = None, kahan_sum: bool = False, seed: int = 0):
        r"""
        * `betas` is the triple $(\beta_1, \beta_2, \beta_3)$
        * `weight_decay` is $\lambda$, added to the gradient unless `weight_decouple` is set,
          in which case the weights shrink by $\alpha \lambda$ per step, or by $\lambda$ with `fixed_decay`
        * `alpha` is $a$ (the paper's $\alpha$; on this site $\alpha$ is the learning rate), the weight of the slow average
        * `t_alpha_beta3` is $T$, the length of the warm-up of $a$ and $\beta_3$, or `None`
        * `foreach` is accepted for compatibility and does nothing
        * `state_dtype`, `kahan_sum` and `seed` keep the state in `torch.bfloat16` or 8 bits, or add to
          a `bfloat16` parameter with Kahan summation, as [low-precision state](low_precision.html) explains

        and `lr`, `eps` and `maximize` are Adam's.
        """
        self.check('fixed_decay', fixed_decay, weight_decouple or not fixed_decay,
                   'False unless weight_decouple=True: it changes only decoupled decay')
        super().__init__(params, lr=lr, betas=betas, eps=eps,
                         weight_decay=WeightDecay(weight_decay, weight_decouple=weight_decouple, absolute=fixed_decay),
                         optimized_update=False, maximize=maximize,
                         defaults=dict(alpha=alpha, t_alpha_beta3=t_alpha_beta3),
                         state_dtype=state_dtype, kahan_sum=kahan_sum, seed=seed)

    def check_hyperparameters(self, defaults: Dict[str, Any]):
        r"""
        Three betas, where Adam has two: $\beta_3 = 1$ is allowed, as in the reference, and keeps
        $m_2$ at zero.
        """
        betas = defaults['betas']
        self.check('betas', betas, isinstance(betas, (tuple, list)) and len(betas) == 3,
                   'a triple (beta1, beta2, beta3)')
        super().check_hyperparameters(dict(defaults, betas=betas[:2]))
        self.check('beta3', betas[2], 0 <= betas[2] <= 1, 'in [0, 1]')
        self.check('alpha', defaults['alpha'], defaults['alpha'] >= 0, '>= 0')
        t_alpha_beta3 = defaults['t_alpha_beta3']
        self.check('t_alpha_beta3', t_alpha_beta3, t_alpha_beta3 is None or t_alpha_beta3 > 0, 'None or > 0')

    def init_state(self, state: Dict[str, Any], group: Dict[str, Any], param: nn.Parameter):
        """
        ### Initialize the state of a parameter

        Adam's `step`, `exp_avg` ($m_1$) and `exp_avg_sq` ($v$), and `exp_avg_slow`, $m_2$.
        """
        super().init_state(state, group, param)
        state['exp_avg_slow'] = torch.zeros_like(param, memory_format=torch.preserve_format)

    def step_numbers(self, state: Dict[str, Any], group: Dict[str, Any]) -> Numbers:
        r"""
        ### The numbers of step $t$
        """
        state['step'] += 1
        step = int(state['step'])
        beta1, beta2, beta3 = group['betas']
        alpha, warmup = group['alpha'], group['t_alpha_beta3']
        if warmup is not None:
            # $a_t = \min(t a / T, a)$
            alpha = min(step * alpha / warmup, alpha)
            # $\beta_{3,t} = \min \left( \exp \left( \frac{\ln \beta_1 \ln \beta_3}
            #   {(1 - t/T) \ln \beta_3 + (t/T) \ln \beta_1} \right), \beta_3 \right)$
            log_beta1, log_beta3 = math.log(beta1), math.log(beta3)
            fraction = step / warmup
            beta3 = min(math.exp(log_beta1 * log_beta3 / ((1 - fraction) * log_beta3 + fraction * log_beta1)), beta3)
        return Numbers(self.weight_decay.numbers(group), beta1=beta1, beta2=beta2, beta3=beta3, alpha=alpha,
                       eps=group['eps'], lr=self.get_lr(state, group),
                       # $1 - \beta_1^t$ and $\sqrt{1 - \beta_2^t}$
                       bias_correction1=1 - beta1 ** step, sqrt_bias_correction2=math.sqrt(1 - beta2 ** step))

    def get_mv(self, state: Dict[str, Any], numbers: Numbers, grad: torch.Tensor):
        r"""
        ### Update the three moving averages

        Adam's $m_{1,t}$ and $v_t$, then the slow average
        $m_{2,t} \leftarrow \beta_{3,t} m_{2,t-1} + (1 - \beta_{3,t}) g_t$.
        """
        m, v = super().get_mv(state, numbers, grad)
        state['exp_avg_slow'].lerp_(grad, 1 - numbers.beta3)
        return m, v

    def adam_update(self, state: Dict[str, Any], numbers: Numbers, param: nn.Parameter,
                    m: torch.Tensor, v: torch.Tensor):
        r"""
        ### Take the step
        """
        # $\sqrt{\hat{v}_t} + \epsilon = \frac{\sqrt{v_t}}{\sqrt{1-\beta_2^t}} + \epsilon$
        denominator = (v.sqrt() / numbers.sqrt_bias_correction2).add_(numbers.eps)
        # $\hat{m}_{1,t} + a_t m_{2,t}$
        numerator = m / numbers.bias_correction1 + numbers.alpha * state['exp_avg_slow']
        # $\theta_t \leftarrow \theta_{t-1} - \alpha \frac{\hat{m}_{1,t} + a_t m_{2,t}}{\sqrt{\hat{v}_t} + \epsilon}$
        # (the decay $\alpha \lambda \theta_{t-1}$ was applied before the averages)
        param.sub_(numbers.lr * numerator / denominator)
