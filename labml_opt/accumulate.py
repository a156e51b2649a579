r"""
---
title: Gradient accumulation
summary: Step the optimizer once every k micro-batches, with the loss scaled so that the update equals one step on a batch k times larger, including a short last group.
---

# Gradient accumulation

The batch size is often chosen for the optimizer (a larger batch gives a less noisy gradient,
and published hyper-parameters come with a batch size) but limited by memory: the activations
of the whole batch must fit at once. Gradient accumulation separates the two. It runs $k$
*micro-batches* of size $b$, one after another, and steps the optimizer once, with the gradient
of one batch of size $k b$.

## Why scaling the loss is enough

Let $\ell_n$ be the loss of sample $n$ and $L_j = \frac{1}{b} \sum_{n \in B_j} \ell_n$ the mean
loss of micro-batch $B_j$, which is what a loss function with `reduction='mean'` returns. The loss
of the whole batch is the mean over all $k b$ samples:

$$L = \frac{1}{k b} \sum_{j=1}^{k} \sum_{n \in B_j} \ell_n = \frac{1}{k} \sum_{j=1}^{k} L_j
  \qquad \Longrightarrow \qquad \nabla_\theta L = \sum_{j=1}^{k} \nabla_\theta \frac{L_j}{k}$$

`backward()` *adds* into `param.grad` rather than overwriting it, so calling it on $\frac{L_j}{k}$
for each micro-batch, without `zero_grad()` in between, leaves exactly $\nabla_\theta L$ in
`param.grad`. The optimizer then cannot tell the difference: whatever it does with a gradient,
SGD or [Adam](adam.html), it does with this one. Forgetting the $\frac{1}{k}$ multiplies the
loss's gradient by $k$; for SGD that is a $k$ times larger learning rate, while Adam, which
divides by the gradient's own scale, would hide the mistake almost completely, except where
$\epsilon$ matters. It is not hidden from $L_2$ weight decay: the optimizer adds
$\lambda \theta_{t-1}$ to the gradient once, after accumulation, so next to a $k$ times larger
loss gradient the decay weighs $k$ times less, as if $\lambda$ were $\lambda / k$, for SGD and Adam
alike. Decoupled decay, as in [AdamW](adamw.html), does not pass through the gradient and is
unchanged.

## The short last group

When the number of micro-batches in an epoch, $N$, is not a multiple of $k$, the last group has
only $r = N \bmod k$ micro-batches. Its batch is $r b$ samples, so its loss is the mean of $r$
micro-batch losses and each must be scaled by $\frac{1}{r}$, not $\frac{1}{k}$. Scaling by
$\frac{1}{k}$ would step with a gradient $\frac{r}{k}$ times too small; dropping the group would
waste data.

If $N$ is known up front, as `len(loader)` usually is, each group's size is known before its first
micro-batch and the right scale is used from the start. If it is not (a stream of unknown length),
the last group is scaled by $\frac{1}{k}$ like the others, and `finish` multiplies its gradients
by $\frac{k}{r}$ before the final step.

## Use

```python
accumulation = GradientAccumulation(k=4, n_micro_batches=len(loader))
for i, (x, y) in enumerate(loader):
    accumulation.scale(loss_func(model(x), y), i).backward()
    if accumulation.should_step(i):
        optimizer.step()
        optimizer.zero_grad()
if accumulation.finish(model.parameters(), n_seen=i + 1):
    optimizer.step()
    optimizer.zero_grad()
```

With `n_micro_batches` given, `finish` has nothing to do unless the loop stopped early; it is there
so that the same loop is right either way. The helper keeps no hidden counter: every answer is a
function of the micro-batch index $i$ within the epoch, so a run resumed in the middle of a group
gets the same scales.

Three things do not carry over from one large batch. Batch normalization sees micro-batches, so
its statistics are those of $b$ samples, not $k b$. A smaller final *micro-batch* (a loader with
`drop_last=False`) gets the weight of a full one, because $L_j$ is already a mean. And a
learning-rate scheduler should count optimizer steps, not micro-batches. Under
`DistributedDataParallel` every backward averages gradients over the processes; wrap the
micro-batches that do not step in `model.no_sync()` to skip that communication until the last one.
"""

from typing import Iterable, Optional

import torch


class GradientAccumulation:
    r"""
    ## The accumulation schedule

    Micro-batch `index` $i$ (counted from $0$ within the epoch) belongs to group
    $\lfloor i / k \rfloor$; the optimizer steps after the last micro-batch of each group.
    """

    def __init__(self, k: int, n_micro_batches: Optional[int] = None):
        """
        * `k` is the number of micro-batches per optimizer step
        * `n_micro_batches` is $N$, the number of micro-batches in an epoch, when it is known
        """
        if not (isinstance(k, int) and k >= 1):
            raise ValueError(f'Invalid k {k!r} for GradientAccumulation: must be an integer >= 1')
        if n_micro_batches is not None and not (isinstance(n_micro_batches, int) and n_micro_batches >= 1):
            raise ValueError(f'Invalid n_micro_batches {n_micro_batches!r} for GradientAccumulation: '
                             f'must be an integer >= 1, or None when unknown')
        self.k = k
        self.n_micro_batches = n_micro_batches

    def group_start(self, index: int) -> int:
        """
        The index of the first micro-batch in micro-batch `index`'s group. An index past the
        end of the epoch is an error: it would silently get the scale of a group that does not exist.
        """
        if index < 0 or (self.n_micro_batches is not None and index >= self.n_micro_batches):
            raise IndexError(f'Micro-batch index {index} is outside the epoch of '
                             f'{self.n_micro_batches} micro-batches')
        return index - index % self.k

    def group_size(self, index: int) -> int:
        r"""
        The number of micro-batches in micro-batch `index`'s group: $k$, or $r = N \bmod k$
        for the last group when $N$ is known. With $N$ unknown it is always $k$.
        """
        start = self.group_start(index)
        if self.n_micro_batches is None:
            return self.k
        return min(self.k, self.n_micro_batches - start)

    def scale(self, loss: torch.Tensor, index: int) -> torch.Tensor:
        r"""
        The loss to call `backward()` on: $\frac{L_j}{k}$, or $\frac{L_j}{r}$ in a short last group.
        """
        return loss / self.group_size(index)

    def should_step(self, index: int) -> bool:
        """Whether the optimizer steps after micro-batch `index`: it is the last of its group."""
        return index + 1 == self.group_start(index) + self.group_size(index)

    def finish(self, params: Iterable[torch.Tensor], n_seen: int) -> bool:
        r"""
        Call after the last micro-batch, with `n_seen` the number of micro-batches that ran.
        If they ended inside a group, that group was scaled for more micro-batches than it got:
        its gradients are multiplied by $\frac{\text{planned size}}{\text{micro-batches run}}$,
        and `True` says the caller should step. `False` means the last group already stepped.
        """
        if n_seen == 0 or self.should_step(n_seen - 1):
            return False
        ran = n_seen - self.group_start(n_seen - 1)
        correction = self.group_size(n_seen - 1) / ran
        with torch.no_grad():
            for param in params:
                if param.grad is not None:
                    param.grad.mul_(correction)
        return True
