r"""
---
title: Lion optimizer
summary: An annotated PyTorch implementation of Lion, the optimizer found by program search, whose every step moves each weight by exactly the learning rate, up or down.
---

# Lion

Lion (*EvoLved Sign Momentum*), from [*Symbolic Discovery of Optimization
Algorithms*](https://arxiv.org/abs/2302.06675) by Chen, Liang, Huang, Real, Wang, Pham, Dong,
Luong, Hsieh, Lu and Le (2023), was not designed by hand: it is the program that an evolutionary
search over update rules found, then simplified. It trained vision transformers, diffusion models
and language models as well as or better than AdamW at a lower cost, and it is one of the
optimizers people reach for when memory is tight, since it keeps **one** moving average instead
of Adam's two.

## The update

With learning rate $\alpha$, decay rates $\beta_1, \beta_2$ and decoupled weight decay $\lambda$,
one step is

\begin{align}
c_t &\leftarrow \beta_1 m_{t-1} + (1 - \beta_1) g_t \\
\theta_t &\leftarrow \theta_{t-1} - \alpha \big( \operatorname{sign}(c_t) + \lambda \theta_{t-1} \big) \\
m_t &\leftarrow \beta_2 m_{t-1} + (1 - \beta_2) g_t
\end{align}

That is all. There is no second moment, no $\epsilon$ and no bias correction.

## Why it works

**The sign.** $\operatorname{sign}(c_t)$ throws the gradient's size away and keeps only its
direction in each coordinate. Every weight moves by exactly $\alpha$, up or down, on every step
(before the decay). That makes Lion an extreme adaptive method: Adam divides $m_t$ by
$\sqrt{v_t}$ to bring every coordinate's step to *about* $\alpha$; Lion brings it to *exactly*
$\alpha$. The update has the largest norm an update with entries in $[-\alpha, \alpha]$ can have, so
it acts as a regulariser that adds noise, and the weights need a smaller learning rate and a
larger decay than under AdamW to stay in place (see [tuning](#tuning)).

**Two betas.** The step's direction $c_t$ mixes the momentum with the current gradient using
$\beta_1 = 0.9$, but the momentum itself is updated more slowly, with $\beta_2 = 0.99$. The
current gradient gets a weight of $1 - \beta_1 = 0.1$ in the step, ten times its weight of
$1 - \beta_2$ in the momentum: the step reacts quickly to a new gradient, while the memory of
past gradients stays long. (With $\beta_1 = \beta_2$ this is signSGD with momentum.)

## Memory per parameter

One tensor of state, $m$, the size of the parameter: 4 bytes per `float32` parameter, half of
[Adam](adam.html)'s 8. Its time per step, next to `lion_pytorch`'s, is in
[the benchmark](fast.html#benchmark).

<a id="tuning"></a>

## What to tune

* **$\alpha$** (`lr`): 3 to 10 times smaller than AdamW's, since every coordinate takes a step of
  the full size. The reference package's default is $10^{-4}$.
* **$\lambda$** (`weight_decay`): 3 to 10 times larger than AdamW's, so that the decay per step,
  $\alpha \lambda$, stays what it was.
* **$\beta_1, \beta_2$** (`betas`): $(0.9, 0.99)$ by default; the paper uses $(0.95, 0.98)$ for
  language models, where it makes training more stable.
* The paper finds Lion's advantage over AdamW grows with the batch size; at small batches, where
  the gradient's sign is noisy, it gains little.

## The reference implementation

The arguments and defaults are those of [`lion_pytorch.Lion`](https://github.com/lucidrains/lion-pytorch)
(PyPI `lion-pytorch`), the implementation most people use, and the tests hold this page to it.
It computes the paper's update. Two of its arguments go beyond the paper:

* `decoupled_weight_decay=True` divides $\lambda$ by the learning rate $\alpha_0$ given to the
  constructor, so the decay per step is $\alpha_t \lambda / \alpha_0$: it follows the shape of a
  learning rate schedule but not its size, and $\lambda$ means the same at any $\alpha_0$.
* `use_triton=True` runs a Triton kernel on a GPU. This package is for the CPU, so it refuses
  the option; large param groups take [the fast path](fast.html) instead, which compiles the code
  below into one loop.

Two things differ, both at its edges: it accepts $\beta = 1$, which freezes the momentum and is
refused here, and it fails with a bare `assert` on a bad value where this class names the value.
"""

from typing import Any, Dict, Optional, Tuple

import torch
from torch import nn

from labml_opt.optimizer import GenericAdaptiveOptimizer, Numbers, Params, WeightDecay


class Lion(GenericAdaptiveOptimizer):
    """
    ## Lion optimizer
    """

    def __init__(self, params: Params, lr: float = 1e-4, betas: Tuple[float, float] = (0.9, 0.99),
                 weight_decay: float = 0.0, use_triton: bool = False, decoupled_weight_decay: bool = False,
                 *, state_dtype: Optional[torch.dtype] = None, kahan_sum: bool = False, seed: int = 0):
        r"""
        * `params` is the list of parameters, or of param groups
        * `lr` is the learning rate $\alpha$
        * `betas` is the pair $(\beta_1, \beta_2)$
        * `weight_decay` is the decoupled decay $\lambda$
        * `use_triton` must be `False` (it selects a GPU kernel in the reference package)
        * `decoupled_weight_decay` divides $\lambda$ by the constructor's `lr`, $\alpha_0$
        * `state_dtype`, `kahan_sum` and `seed` keep the state in `torch.bfloat16`, or add to a
          `bfloat16` parameter with Kahan summation, as [low-precision state](low_precision.html) explains
        """
        self.check('use_triton', use_triton, use_triton is False,
                   'False: Triton kernels run on GPUs; large groups here take the compiled fast path')
        self.check('lr', lr, not decoupled_weight_decay or bool(lr > 0),
                   '> 0 with decoupled_weight_decay, which divides by it')
        super().__init__(params, dict(lr=lr, betas=tuple(betas), weight_decay=weight_decay),
                         state_dtype=state_dtype, kahan_sum=kahan_sum, seed=seed)
        self.weight_decay = WeightDecay(weight_decay, weight_decouple=True)
        self.decoupled_weight_decay = decoupled_weight_decay
        # $\alpha_0$, the learning rate given to the constructor
        self.initial_lr = lr

    def init_state(self, state: Dict[str, Any], group: Dict[str, Any], param: nn.Parameter):
        """
        ### Initialize the state of a parameter

        `exp_avg` is the momentum $m_t$, the only state Lion keeps.
        """
        state['exp_avg'] = torch.zeros_like(param, memory_format=torch.preserve_format)

    def step_numbers(self, state: Dict[str, Any], group: Dict[str, Any]) -> Numbers:
        r"""
        ### The numbers of step $t$

        There is no step count: nothing in Lion depends on $t$.
        """
        beta1, beta2 = group['betas']
        numbers = Numbers(self.weight_decay.numbers(group), beta1=beta1, beta2=beta2, lr=group['lr'])
        if self.decoupled_weight_decay:
            # $1 - \alpha_t \frac{\lambda}{\alpha_0}$
            numbers.update(decay_factor=1 - group['lr'] * group['weight_decay'] / self.initial_lr)
        return numbers

    def step_param(self, state: Dict[str, Any], numbers: Numbers, grad: torch.Tensor, param: nn.Parameter):
        """
        ### Update one parameter

        * `grad` is $g_t$, the gradient of the loss with respect to `param`
        """
        m = state['exp_avg']
        # $\theta_{t-1} \leftarrow \theta_{t-1} (1 - \alpha \lambda)$, the decay
        grad = self.weight_decay(param, grad, numbers)
        # $c_t \leftarrow \beta_1 m_{t-1} + (1 - \beta_1) g_t$
        c = numbers.beta1 * m + (1 - numbers.beta1) * grad
        # $\theta_t \leftarrow \theta_{t-1} - \alpha \operatorname{sign}(c_t)$
        param.sub_(numbers.lr * torch.sign(c))
        # $m_t \leftarrow \beta_2 m_{t-1} + (1 - \beta_2) g_t$
        m.mul_(numbers.beta2).add_((1 - numbers.beta2) * grad)
