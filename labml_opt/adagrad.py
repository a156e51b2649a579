r"""
---
title: Adagrad optimizer
summary: An annotated PyTorch implementation of Adagrad, which gives every parameter its own learning rate from the sum of its squared gradients, and why that rate dies.
---

# Adagrad

[SGD](sgd.html) moves every parameter with the same learning rate $\alpha$. That suits nobody in
particular. Take a word-embedding table: the row of a common word gets a gradient on every step,
the row of a rare word once in a thousand steps. A rate small enough to keep the common row stable
leaves the rare row almost untrained. We would like parameters with frequent, large gradients to
take smaller steps, and parameters with rare, small gradients to take larger ones.

Adagrad, from [*Adaptive Subgradient Methods for Online Learning and Stochastic
Optimization*](https://www.jmlr.org/papers/v12/duchi11a.html) by Duchi, Hazan and Singer,
does this by keeping, for every parameter $i$, the sum of all its squared gradients so far,

$$G_{t,i} = G_{0,i} + \sum_{s=1}^{t} g_{s,i}^2$$

and dividing that parameter's step by its square root:

\begin{align}
G_t &\leftarrow G_{t-1} + g_t^2 \\
\theta_t &\leftarrow \theta_{t-1} - \frac{\alpha}{\sqrt{G_t} + \epsilon} \, g_t
\end{align}

(all operations element-wise). A parameter whose gradients have been large has a large
$G_{t,i}$ and a small effective rate $\frac{\alpha}{\sqrt{G_{t,i}}}$; one whose gradients have been
rare keeps a large rate. The step no longer depends on the scale of the gradient either:
multiplying the loss by $100$ multiplies $g_t$ and $\sqrt{G_t}$ alike, and the ratio stays.

$\epsilon$ only guards against dividing by zero. PyTorch adds it outside the square root, and so
do we. $G_0$ is `initial_accumulator_value`, zero by default.

## The step dies

$G_t$ is a sum of non-negative terms, so it only grows. If a parameter's gradients keep a
typical size $\sigma$, then $G_t \approx t \sigma^2$ and its step shrinks like
$\frac{\alpha}{\sqrt{t}}$, whether or not the parameter is anywhere near a minimum. Every step
early in training is paid for with smaller steps forever after. On a convex problem this decay
is exactly what the theory wants; on a long non-convex training run the learning rate fades
towards zero and learning stalls.

A larger $G_0$ tames the very first steps, where $\sqrt{G_1} = |g_1|$ makes the first update
$\alpha \, \text{sign}(g_1)$ for every parameter at once, but it also starts every rate lower and
the decay is the same.

`lr_decay` $\delta$ adds a further, explicit decay on top, as in PyTorch:
$\alpha_t = \frac{\alpha}{1 + (t - 1) \delta}$.

## Sparse gradients

The embedding table above is where Adagrad is at home, and `nn.Embedding(sparse=True)` hands it a
gradient that holds only the rows the batch touched. For a row without a gradient, $g_{t,i} = 0$
leaves $G_{t,i}$ where it was and $\theta_{t,i}$ where it was, so the step need only visit the
touched rows: [`sparse_step`](#sparse_step) below.
"""

from typing import Any, Dict, Optional, Union

import torch
from torch import nn

from labml_opt.optimizer import GenericAdaptiveOptimizer, Numbers, Params, WeightDecay, as_weight_decay


class Adagrad(GenericAdaptiveOptimizer):
    """
    ## Adagrad optimizer

    A drop-in replacement for `torch.optim.Adagrad`: the same arguments, defaults, update and state.
    """

    supports_sparse = True

    def __init__(self, params: Params, lr: float = 1e-2, lr_decay: float = 0.,
                 weight_decay: Union[float, WeightDecay] = 0., initial_accumulator_value: float = 0.,
                 eps: float = 1e-10, *, maximize: bool = False, foreach: Optional[bool] = None,
                 differentiable: bool = False, fused: Optional[bool] = None,
                 state_dtype: Optional[torch.dtype] = None, kahan_sum: bool = False, seed: int = 0):
        r"""
        * `params` is the list of parameters, or of param groups
        * `lr` is the learning rate $\alpha$
        * `lr_decay` is $\delta$, which makes the rate $\alpha_t = \frac{\alpha}{1 + (t - 1) \delta}$
        * `weight_decay` is $\lambda$: a float means $L_2$ regularization, as in `torch.optim.Adagrad`;
          pass a [`WeightDecay`](optimizer.html#WeightDecay) for another rule
        * `initial_accumulator_value` is $G_0$
        * `eps` is $\epsilon$
        * `maximize` ascends the objective instead of descending it
        * `foreach`, `fused` and `differentiable` are torch's implementation keywords; see
          [`implementation_options`](optimizer.html#GenericAdaptiveOptimizer)
        * `state_dtype`, `kahan_sum` and `seed` keep the state in `torch.bfloat16`, or add to a
          `bfloat16` parameter with Kahan summation, as [low-precision state](low_precision.html) explains
        """
        self.weight_decay = as_weight_decay(weight_decay, decoupled=False)
        defaults = dict(**self.weight_decay.defaults(), lr=lr, lr_decay=lr_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps, maximize=maximize)
        self.check('lr_decay', lr_decay, lr_decay >= 0, '>= 0')
        self.check('initial_accumulator_value', initial_accumulator_value, initial_accumulator_value >= 0,
                   '>= 0')
        defaults.update(self.implementation_options(foreach, differentiable, False, fused))
        super().__init__(params, defaults, state_dtype=state_dtype, kahan_sum=kahan_sum, seed=seed)

    def init_state(self, state: Dict[str, Any], group: Dict[str, Any], param: nn.Parameter):
        """
        ### Initialize the state of a parameter

        * `step` is $t$, which only `lr_decay` uses
        * `sum` is $G_t$, starting at $G_0$

        $G_0$ comes from the parameter's own group. (`torch.optim.Adagrad` fills the groups it is
        constructed with from the constructor's argument, ignoring a group's own value.) A complex
        weight is two real ones, and each starts at $G_0$: $G_0 + i G_0$, as in `torch.optim`.
        """
        state['step'] = 0
        initial = group['initial_accumulator_value']
        state['sum'] = torch.full_like(param, complex(initial, initial) if param.is_complex() else initial,
                                       memory_format=torch.preserve_format)

    def step_numbers(self, state: Dict[str, Any], group: Dict[str, Any]) -> Numbers:
        r"""
        ### The numbers of step $t$
        """
        state['step'] += 1
        # $\alpha_t = \frac{\alpha}{1 + (t - 1) \delta}$
        lr = group['lr'] / (1 + (state['step'] - 1) * group['lr_decay'])
        return Numbers(self.weight_decay.numbers(group), lr=lr, eps=group['eps'])

    def step_param(self, state: Dict[str, Any], numbers: Numbers, grad: torch.Tensor, param: nn.Parameter):
        """
        ### Update one parameter

        * `grad` is $g_t$, the gradient of the loss with respect to `param`
        """
        if grad.is_sparse:
            return self.sparse_step(state, numbers, grad, param)
        # $g_t \leftarrow g_t + \lambda \theta_{t-1}$
        grad = self.weight_decay(param, grad, numbers)
        # $G_t \leftarrow G_{t-1} + g_t^2$
        state['sum'].addcmul_(grad, grad)
        # $\sqrt{G_t} + \epsilon$, with $\epsilon$ outside the root
        denominator = state['sum'].sqrt() + numbers.eps
        # $\theta_t \leftarrow \theta_{t-1} - \frac{\alpha_t}{\sqrt{G_t} + \epsilon} \, g_t$
        param.sub_(numbers.lr * grad / denominator)

    def sparse_step(self, state: Dict[str, Any], numbers: Numbers, grad: torch.Tensor, param: nn.Parameter):
        r"""
        <a id="sparse_step"></a>

        ### The step for a sparse gradient

        The same two lines on the touched rows $i$ only. The rows of a sparse gradient may repeat
        (one per lookup); they must be summed first, since $(a + b)^2 \ne a^2 + b^2$.
        """
        grad = grad.coalesce()
        rows, values = grad.indices(), grad.values()

        def on_rows(row_values: torch.Tensor) -> torch.Tensor:
            return torch.sparse_coo_tensor(rows, row_values, grad.shape, check_invariants=False)

        # $G_{t,i} \leftarrow G_{t-1,i} + g_{t,i}^2$
        state['sum'].add_(on_rows(values * values))
        # $\sqrt{G_{t,i}} + \epsilon$
        denominator = state['sum'].sparse_mask(grad).values().sqrt_().add_(numbers.eps)
        # $\theta_{t,i} \leftarrow \theta_{t-1,i} - \frac{\alpha_t}{\sqrt{G_{t,i}} + \epsilon} \, g_{t,i}$
        param.sub_(on_rows(numbers.lr * (values / denominator)))

# ## Next
#
# Adagrad's per-parameter rates are the right idea, but its memory never fades: $G_t$ grows
# without bound and every step gets smaller. [Adadelta](adadelta.html) replaces the sum with a
# moving average, and fixes the units of the step while it is at it.
