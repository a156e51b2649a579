r"""
---
title: SparseAdam optimizer
summary: An annotated PyTorch implementation of SparseAdam, Adam for sparse gradients such as those of nn.Embedding(sparse=True), which updates only the rows present in the gradient, and how that lazy update differs from Adam's.
---

# SparseAdam

An embedding table of a million rows, trained on batches that each use a few thousand of them,
gets a gradient that is zero in all other rows. `nn.Embedding(sparse=True)` returns it as a
*sparse* tensor: the indices of the rows used, and their values. [Adam](adam.html) would still read
and write every row of $\theta$, $m$ and $v$ on every step; `SparseAdam` touches only the rows
present. Where $g_t$ has entries, and only there, it takes Adam's step:

\begin{align}
m_t &\leftarrow \beta_1 m_{t-1} + (1 - \beta_1) g_t \\
v_t &\leftarrow \beta_2 v_{t-1} + (1 - \beta_2) g_t^2 \\
\theta_t &\leftarrow \theta_{t-1} - \alpha \frac{\sqrt{1 - \beta_2^t}}{1 - \beta_1^t} \cdot \frac{m_t}{\sqrt{v_t} + \epsilon}
\end{align}

Everywhere else $m$, $v$ and $\theta$ stay as they were. $t$ counts the steps in which the
*parameter* had a gradient, whichever rows it held.

The step folds the bias corrections into the step size, as Adam's
[optimized update](adam.html) does, but keeps $\epsilon$ as it is, where Adam rescales it to
$\epsilon \sqrt{1 - \beta_2^t}$: SparseAdam's step is textbook Adam's with $\epsilon$ replaced by
$\frac{\epsilon}{\sqrt{1 - \beta_2^t}}$, about thirty times larger in the first step, and the same
after a few thousand. This is `torch.optim.SparseAdam`'s update, and ours.

## A lazy update is not Adam

For Adam, a row absent from the batch has a zero gradient, and a zero gradient is information:

\begin{align}
m_t &\leftarrow \beta_1 m_{t-1} \\
v_t &\leftarrow \beta_2 v_{t-1} \\
\theta_t &\leftarrow \theta_{t-1} - \alpha \frac{\hat{m}_t}{\sqrt{\hat{v}_t} + \epsilon}
\end{align}

The moments decay, and the row keeps moving on its momentum. SparseAdam's update is *lazy*: it
acts as if the steps in which a row was absent had not happened. A row absent for $k$ steps keeps
its $m$ and $v$ exactly, and when it comes back,

\begin{align}
\text{SparseAdam:} \quad m &\leftarrow \beta_1 m_{\text{last}} + (1 - \beta_1) g \\
\text{Adam:} \quad m &\leftarrow \beta_1^{k+1} m_{\text{last}} + (1 - \beta_1) g
\end{align}

So the two differ for every row that skips a step, and the rarer the row, the more:

* A rare row carries its momentum from its last appearance, however long ago, at full strength,
  and a large $v$ from a large gradient long ago still divides its steps now.
* It does not drift while it is absent. For an embedding that is often what one wants: a word
  that is not in the batch brings no new evidence, and under Adam it would keep moving on its
  momentum for tens of steps, each smaller than the last by a factor $\frac{\beta_1}{\sqrt{\beta_2}} \approx 0.9$.
* The bias corrections use $t$, not the row's own count of steps: a row that first appears after
  a few thousand steps gets almost no correction, and its first step approaches
  $\alpha \frac{1 - \beta_1}{\sqrt{1 - \beta_2}} \approx 3.16 \alpha$, as a dense Adam's would
  (its moments would have been zero too), where a row present from the start first moves by $\alpha$.

`tests/optimizers/test_sparse_adam.py` checks these claims against `torch.optim.Adam` on the dense
gradients. Which entries count as present is the sparse tensor's business: an index that is in it
with the value zero is updated (its moments decay), and an index that is not is left alone. With
`nn.Embedding(sparse=True)`, the present rows are those of the tokens in the batch.

## Using it

SparseAdam takes only sparse gradients; the rest of a model takes a dense optimizer:

```python
embedding = nn.Embedding(1_000_000, 64, sparse=True)
sparse = SparseAdam(embedding.parameters(), lr=1e-3)
dense = Adam(rest_of_model.parameters(), lr=1e-3)
```

Its update works on the gradient's values, a short vector, rather than on tensors of the
parameter's shape, so it never takes [the fast path](fast.html), which compiles element-wise
updates of whole tensors.
"""

import math
from typing import Any, Dict, Tuple

import torch
from torch import nn

from labml_opt.optimizer import GenericAdaptiveOptimizer, Numbers, Params


class SparseAdam(GenericAdaptiveOptimizer):
    """
    ## SparseAdam optimizer

    A drop-in replacement for `torch.optim.SparseAdam`: the same arguments, defaults, update and state.
    """

    def __init__(self, params: Params, lr: float = 1e-3, betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, maximize: bool = False):
        r"""
        * `lr` is $\alpha$, and must be positive, as in `torch.optim.SparseAdam`
        * `betas` is $(\beta_1, \beta_2)$
        * `eps` is $\epsilon$, and must be positive
        * `maximize` ascends the objective instead of descending it

        The parameters must be dense and real; their gradients must be sparse.
        """
        if isinstance(lr, torch.Tensor):
            self.check('lr', lr, lr.numel() == 1, 'a number or a 1-element tensor')
        self.check('lr', lr, bool(lr > 0), '> 0')
        self.check('eps', eps, eps > 0, '> 0')
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, maximize=maximize))

    def add_param_group(self, param_group: Dict[str, Any]):
        """Refuse sparse and complex parameters, with `ValueError` as torch does, and leave the groups as they were."""
        super().add_param_group(param_group)
        for param in self.param_groups[-1]['params']:
            if param.is_sparse or param.is_complex():
                self.param_groups.pop()
                problem = 'requires dense parameter tensors' if param.is_sparse else 'does not support complex parameters'
                raise ValueError(f'SparseAdam {problem} (got a parameter of layout {param.layout} and dtype '
                                 f'{param.dtype})')

    def init_state(self, state: Dict[str, Any], group: Dict[str, Any], param: nn.Parameter):
        """
        ### Initialize the state of a parameter

        * `step` is $t$, the number of steps in which the parameter had a gradient
        * `exp_avg` is $m_t$ and `exp_avg_sq` is $v_t$, dense, of the parameter's shape
        """
        state['step'] = 0
        state['exp_avg'] = torch.zeros_like(param, memory_format=torch.preserve_format)
        state['exp_avg_sq'] = torch.zeros_like(param, memory_format=torch.preserve_format)

    def step_numbers(self, state: Dict[str, Any], group: Dict[str, Any]) -> Numbers:
        r"""
        ### The numbers of step $t$
        """
        state['step'] += 1
        beta1, beta2 = group['betas']
        # $1 - \beta_1^t$ and $1 - \beta_2^t$
        bias_correction1 = 1 - beta1 ** state['step']
        bias_correction2 = 1 - beta2 ** state['step']
        # $\alpha \frac{\sqrt{1 - \beta_2^t}}{1 - \beta_1^t}$
        # (a tensor $\alpha$ of one element stays a tensor, as in torch's arithmetic, but of no dimensions)
        lr = group['lr'].reshape(()) if isinstance(group['lr'], torch.Tensor) else group['lr']
        step_size = lr * math.sqrt(bias_correction2) / bias_correction1
        return Numbers(beta1=beta1, beta2=beta2, eps=group['eps'], step_size=step_size)

    def step_param(self, state: Dict[str, Any], numbers: Numbers, grad: torch.Tensor, param: nn.Parameter):
        r"""
        ### Update the entries present in the gradient

        * `grad` is $g_t$, a sparse tensor

        The moments are updated where $g_t$ has entries; the step then uses the new values there,
        computed from the old ones rather than read back from the dense tensors.
        """
        # An index listed twice (a token twice in a batch) is summed first: the update is not linear in $g_t$
        grad = grad.coalesce()
        values = grad.values()
        if values.numel() == 0:
            return

        def at_entries(entries: torch.Tensor) -> torch.Tensor:
            """A sparse tensor with $g_t$'s indices, which `coalesce` made unique and sorted, and these values."""
            return torch.sparse_coo_tensor(grad.indices(), entries, grad.shape, check_invariants=False, is_coalesced=True)

        exp_avg, exp_avg_sq = state['exp_avg'], state['exp_avg_sq']
        # $m_{t-1}$ at the entries of $g_t$
        exp_avg_old = exp_avg.sparse_mask(grad).values()
        # $m_t - m_{t-1} = (1 - \beta_1)(g_t - m_{t-1})$, added to those entries of $m$
        exp_avg_change = (values - exp_avg_old).mul_(1 - numbers.beta1)
        exp_avg.add_(at_entries(exp_avg_change))
        # $v_t - v_{t-1} = (1 - \beta_2)(g_t^2 - v_{t-1})$, likewise
        exp_avg_sq_old = exp_avg_sq.sparse_mask(grad).values()
        exp_avg_sq_change = (values.pow(2) - exp_avg_sq_old).mul_(1 - numbers.beta2)
        exp_avg_sq.add_(at_entries(exp_avg_sq_change))
        # $\frac{m_t}{\sqrt{v_t} + \epsilon}$ at the entries
        ratio = (exp_avg_old + exp_avg_change) / ((exp_avg_sq_old + exp_avg_sq_change).sqrt() + numbers.eps)
        # $\theta_t \leftarrow \theta_{t-1} - \alpha \frac{\sqrt{1 - \beta_2^t}}{1 - \beta_1^t} \cdot \frac{m_t}{\sqrt{v_t} + \epsilon}$
        param.add_(at_entries(-numbers.step_size * ratio))

    def step_group(self, group: Dict[str, Any]):
        """
        ### Update the parameters of one group

        The template's loop, for sparse gradients. A dense gradient is refused before anything
        changes, with torch's exception type, and [the fast path](fast.html) is not asked.
        """
        params = [param for param in group['params'] if param.grad is not None]
        if any(not param.grad.is_sparse for param in params):
            raise RuntimeError('SparseAdam does not support dense gradients, please consider Adam instead')
        shared = None
        for param in params:
            state = self.state[param]
            if len(state) == 0:
                self.init_state(state, group, param)
            numbers, shared = self.shared_numbers(state, group, shared)
            # To maximize $f$, descend on $-f$
            grad = -param.grad if group['maximize'] else param.grad
            self.step_param(state, numbers, grad, param)
