r"""
---
title: Scaling out with torch.distributed
summary: Why every labml_opt optimizer runs unchanged under DistributedDataParallel, as the optimizer class of ZeroRedundancyOptimizer, and on the sharded parameters of FSDP2, and a script to launch with torchrun.
---

# Scaling out with `torch.distributed`

One process can only go so fast. PyTorch's own distributed engine runs $W$ processes (on one
machine or many) that train one model together, and our optimizers work there without a line
changed. This page says why, and ends with a small script to launch with `torchrun`.

## Data parallel: the same step everywhere

[`DistributedDataParallel`](https://pytorch.org/docs/stable/generated/torch.nn.parallel.DistributedDataParallel.html)
(DDP) keeps a full copy of the model in every process $w$ and gives each a different shard
$B_w$ of the batch, all of the same size $b$. During `backward()` it *all-reduces* the gradients,
bucket by bucket while the backward pass is still running, and divides by $W$, so that every
process ends up holding

$$g = \frac{1}{W} \sum_{w=1}^{W} \nabla_\theta \frac{1}{b} \sum_{n \in B_w} \ell_n
    = \nabla_\theta \frac{1}{W b} \sum_{n \in B_1 \cup \dots \cup B_W} \ell_n$$

the gradient of the mean loss over the combined batch of $W b$ samples. Every process then
calls `optimizer.step()` on identical parameters, identical state and an identical gradient, so
the copies stay identical without ever being compared.

The optimizer never learns that it is distributed: it reads `param.grad` and updates `param`,
as on one process. What it must do is behave the same in every process, which a deterministic
update (all of ours) does. Training on $W$ processes with shards of $b$ is therefore training on
one process with batches of $W b$: our test checks exactly that, to $10^{-10}$ in float64.

## ZeRO: sharding the optimizer's state

Under DDP every process holds the whole optimizer state: for [Adam](adam.html), $m$ and $v$,
twice the size of the model, $W$ times over. The
[`ZeroRedundancyOptimizer`](https://pytorch.org/docs/stable/distributed.optim.html)
(stage 1 of [ZeRO](https://arxiv.org/abs/1910.02054)) divides the parameters into $W$ parts.
Process $w$ builds a real optimizer, of the class we pass as `optimizer_class`, over its part
only; after backward it steps that part and broadcasts the new values to the others. State
memory drops by a factor of $W$, and the result is the same training as before.

This asks three things of an optimizer class, all of which the [base class](index.html) gives
ours:

* It is built from a list of param-group dicts and keyword hyper-parameters
  (`optimizer_class(param_groups, lr=..., ...)`).
* It reads its hyper-parameters from `param_groups` on every step. The wrapper copies its own
  groups into the local optimizer before each step, so a learning-rate scheduler attached to the
  wrapper reaches our `group['lr']`.
* Its `state_dict` has the standard layout. `consolidate_state_dict(to=0)` gathers every
  process's `state_dict` on process 0 and renumbers the parameters, and the result is an ordinary
  state dict for the whole model: it loads into a plain, single-process optimizer of the same class
  (to evaluate, or to resume on one machine), and our `load_state_dict` checks its keys.

<a id="fsdp2"></a>

## FSDP2: sharding the parameters too

ZeRO still keeps a whole copy of the model and its gradients in every process. Fully sharded
data parallel (stage 3 of ZeRO; [FSDP2](https://pytorch.org/docs/stable/distributed.fsdp.fully_shard.html)
in PyTorch) shards those as well. `fully_shard(module)` replaces each of the module's parameters by a
[`DTensor`](https://pytorch.org/docs/stable/distributed.tensor.html): process $w$ keeps the $w$-th
block of rows of every parameter, and the whole parameter exists only while its module runs,
gathered from all processes just before the forward (and again before the backward) and freed after. The
backward pass ends with a *reduce-scatter*: the gradients are averaged over the processes, as
under DDP, and each process receives the rows of its own shard.

The optimizer, built after `fully_shard`, sees the `DTensor` parameters. Its `init_state` makes
the state with `torch.zeros_like(param)`, a `DTensor` sharded like the parameter, and every
operation of `step_param` on `DTensor`s of the same sharding acts on each process's rows. For an
element-wise update ([reach](optimizer.html#reach) `'element'`: Adam and most others), the update
of every shard *is* the update of the whole tensor: each process updates its rows with its rows of
$g$, $m$ and $v$, and nothing has to be communicated. Model, gradient and optimizer state all take
$\frac{1}{W}$ of the memory. [The fast path](fast.html#on_shards) runs its compiled loop on the
local shards.

<a id="whole-tensors"></a>

### Updates that need the whole tensor

Five of our algorithms reach further, and so do the classes built on them (`LAMBPaper`, the Muon
groups of `MuonWithAuxAdam`). [LAMB](lamb.html)'s trust ratio and
[Prodigy](prodigy.html)'s estimate take norms and sums over each whole tensor (reach `'tensor'`);
[Muon](muon.html) multiplies matrices, [Adafactor](adafactor.html) averages rows and columns, and
[SOAP](soap.html) takes eigenvectors of statistics of whole matrices (reach `'matrix'`). A block of
rows has neither the norm of the tensor nor the means of its columns. For these, the
[template](optimizer.html#on_whole_tensors), not each optimizer, runs the step on whole tensors:
every process gathers the parameter, its gradient and its state tensors with `full_tensor()`, runs
the unchanged `step_param` on them as one process would, and writes its own rows of the results
back into its shards. The state is made the same way on the first step, from the whole parameter,
and stays sharded between steps, so `torch.distributed.checkpoint` saves it shard by shard.

This buys correctness, not speed:

* **Communication:** one all-gather per tensor of the step, of the parameter, the gradient and
  each state tensor; for Muon, three per matrix and step, where an element-wise update needs none.
  Each process receives the $\frac{W - 1}{W}$ of every tensor that it does not hold. Prodigy
  gathers twice, for its estimate and then for its update, since the estimate needs every
  parameter's part before any parameter moves.
* **Compute:** every process computes the whole update; the work is not divided among the $W$
  processes but repeated by each. For Muon and SOAP, whose matrix products dominate the step,
  each process does all of them, as one process would, and the all-gathers come on top: the
  step is no faster than on one process, where an element-wise one is $W$ times smaller.
* **Memory:** the whole of one tensor, with its gradient and state, at a time, not the whole model.

Taking its rows from its own copy needs no message: the results it writes are the ones it
computed, and no other process holds those rows. Dividing the work instead, each process
orthogonalizing whole matrices of its own and sending them to the others, would need an optimizer
that knows how the model is laid out over the processes; ours do not.

Three of our optimizers do not fit:

* [L-BFGS](lbfgs.html) computes dot products over all the parameters as one vector; on shards,
  each process would compute only its part of them. (`torch.optim.LBFGS` is in the same position.)
* [SparseAdam](sparse_adam.html) takes only sparse gradients, and FSDP2's are dense.
* [SharedAdam](shared_adam.html) keeps its state in the shared memory of one machine for Hogwild
  workers, and refuses `DTensor` parameters.

<a id="low-precision"></a>

**State in `bfloat16`** ([low-precision state](low_precision.html)) is sharded as the parameters are,
and an element-wise step on it runs on each process's shards as plain tensors. Its stochastic
rounding draws random bits from each element's index in its tensor, and a shard's indices start at
zero; so each shard [moves its seed](low_precision.html#rounding_seed) by where it starts in the
whole tensor, and draws the bits one process would draw for the same elements. Two processes then
end where one ends but for the last bits of the averaged gradients: after 50 steps of the test's
model, $5 \cdot 10^{-7}$ apart for AdamW, $1.3 \cdot 10^{-6}$ for LAMB (which steps on whole
tensors), against $2 \cdot 10^{-3}$ between its `bfloat16` and `float32` states on one process, and
a run resumed half way from a checkpoint ends where the whole run ends, to the bit.
Without the moved seed, two processes drew the same bits for the first rows of each shard, and
ended $6 \cdot 10^{-4}$ from one process in a shorter run. **8-bit state** is refused for a
sharded parameter it would quantize: a block of 256 elements would be cut across two shards,
and its one scale would belong to neither.

`torch.save` in one process would save that process's shards only, and gathering them first
(`full_tensor()`) would put the whole model and state on one process. Instead,
[`torch.distributed.checkpoint`](https://pytorch.org/docs/stable/distributed.checkpoint.html)
saves each process's shards, in parallel, as one checkpoint in a directory, and loads them on the
same number of processes or on another one. `get_state_dict` names the optimizer's state by the
parameters' names rather than by numbers, and `set_state_dict` puts it back: see
[`save_checkpoint`](#save_checkpoint) and [`load_checkpoint`](#load_checkpoint) below. Our test trains
every optimizer for 50 steps on two processes, checks that the result is the one-process result,
and resumes half way from such a checkpoint to the same parameters, bit for bit. Its layers have 15
and 7 rows, so that the shards are uneven (8 and 7 rows, 4 and 3), and its last has one row, so
that one process holds none of it.

## Launching

`torchrun` starts the processes and tells each its rank through environment variables; on one
machine with two processes:

```bash
torchrun --standalone --nproc_per_node=2 -m labml_opt.distributed --optimizer Adam --zero
torchrun --standalone --nproc_per_node=2 -m labml_opt.distributed --optimizer Adam --fsdp --checkpoint ckpt
```

On several machines, run the same command on each with `--nnodes`, `--node_rank` and
`--rdzv-endpoint` instead of `--standalone`. `gloo` runs on CPUs; use `nccl` with GPUs.
The script below trains a small regression model on synthetic data; `main` is the part to copy.
"""

import argparse
from typing import Iterator, Optional, Tuple

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict
from torch.distributed.fsdp import fully_shard
from torch.distributed.optim import ZeroRedundancyOptimizer
from torch.nn.parallel import DistributedDataParallel

import labml_opt

# A batch of inputs and targets
Batch = Tuple[torch.Tensor, torch.Tensor]


def make_model(seed: int = 0, dtype: torch.dtype = torch.float32) -> nn.Module:
    """
    A small model for the demonstration. Every process builds it from the same seed; DDP would
    broadcast process 0's parameters anyway, but equal seeds make a single-process twin easy.
    """
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1)).to(dtype)


def batches(steps: int, batch_size: int, seed: int = 1, dtype: torch.dtype = torch.float32) -> Iterator[Batch]:
    """
    The *combined* batches, the same in every process: each takes its own shard of each.
    The targets are a fixed non-linear function of the inputs, plus noise.
    """
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x = torch.randn(batch_size, 4, generator=generator, dtype=dtype)
        y = torch.sin(x.sum(dim=1, keepdim=True)) + 0.1 * torch.randn(batch_size, 1, generator=generator, dtype=dtype)
        yield x, y


def shard(batch: Batch, rank: int, world_size: int) -> Batch:
    """Process `rank`'s share: one of `world_size` equal slices, as `DistributedSampler` would give."""
    x, y = batch
    if len(x) % world_size != 0:
        raise ValueError(f'Invalid batch size {len(x)}: must divide evenly among {world_size} processes, '
                         f'or the average of the shards is not the mean of the batch')
    return x.chunk(world_size)[rank], y.chunk(world_size)[rank]


def shard_model(model: nn.Module) -> nn.Module:
    """
    ### Shard a model with FSDP2

    Shard `model` in place: each linear layer is one unit, whose parameters are gathered for its
    forward and backward and freed after, then the root, which takes what is left. Build the
    optimizer afterwards, on the `DTensor` parameters.
    """
    for module in model.modules():
        if isinstance(module, nn.Linear):
            fully_shard(module)
    fully_shard(model)
    return model


def save_checkpoint(model: nn.Module, optimizer: torch.optim.Optimizer, path: str):
    """
    <a id="save_checkpoint"></a>

    Every process saves its shards of the model and of the optimizer's state into the directory `path`.
    """
    model_state, optimizer_state = get_state_dict(model, optimizer)
    dcp.save({'model': model_state, 'optimizer': optimizer_state}, checkpoint_id=path)


def load_checkpoint(model: nn.Module, optimizer: torch.optim.Optimizer, path: str):
    """
    <a id="load_checkpoint"></a>

    Load what `save_checkpoint` saved into a freshly built model and optimizer, each process its
    shards. `get_state_dict` gives the layout to load into: for an optimizer without state yet, it
    creates the state with one step of zero gradients at a learning rate of zero, which the loaded
    state then replaces.
    """
    model_state, optimizer_state = get_state_dict(model, optimizer)
    state = {'model': model_state, 'optimizer': optimizer_state}
    dcp.load(state, checkpoint_id=path)
    set_state_dict(model, optimizer, model_state_dict=state['model'], optim_state_dict=state['optimizer'])


def make_optimizer(name: str, params, zero: bool, lr: float) -> torch.optim.Optimizer:
    """
    The labml_opt optimizer `name`, either as it is (each process keeps the whole state) or as
    the `optimizer_class` of a `ZeroRedundancyOptimizer` (each process keeps its part).
    """
    optimizer_class = getattr(labml_opt, name)
    if zero:
        return ZeroRedundancyOptimizer(params, optimizer_class=optimizer_class, lr=lr)
    return optimizer_class(params, lr=lr)


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, batch: Batch) -> torch.Tensor:
    """One step on this process's shard: DDP, or FSDP2, averages the gradients inside `backward()`."""
    x, y = batch
    optimizer.zero_grad()
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    optimizer.step()
    return loss.detach()


def main(argv: Optional[list] = None):
    """
    ### The script for `torchrun`

    `torchrun` sets `RANK`, `WORLD_SIZE`, `MASTER_ADDR` and `MASTER_PORT`, which
    `init_process_group` reads. Only process 0 prints and saves.
    """
    parser = argparse.ArgumentParser(description='Train a small model with a labml_opt optimizer on torch.distributed')
    parser.add_argument('--optimizer', default='Adam', help='the name of a labml_opt optimizer')
    parser.add_argument('--lr', type=float, default=1e-2)
    parser.add_argument('--steps', type=int, default=100)
    parser.add_argument('--batch-size', type=int, default=64, help='the combined batch over all processes')
    sharding = parser.add_mutually_exclusive_group()
    sharding.add_argument('--zero', action='store_true', help='shard the optimizer state with ZeroRedundancyOptimizer')
    sharding.add_argument('--fsdp', action='store_true', help='shard the parameters, gradients and state with FSDP2')
    parser.add_argument('--backend', default='gloo', help='gloo for CPUs, nccl for GPUs')
    parser.add_argument('--checkpoint', help='where to save the model and the optimizer state: a file that process 0 '
                                             'writes, or with --fsdp a directory of every process\'s shards')
    args = parser.parse_args(argv)

    dist.init_process_group(backend=args.backend)
    rank, world_size = dist.get_rank(), dist.get_world_size()
    try:
        model = shard_model(make_model()) if args.fsdp else DistributedDataParallel(make_model())
        optimizer = make_optimizer(args.optimizer, model.parameters(), args.zero, args.lr)
        for step, batch in enumerate(batches(args.steps, args.batch_size)):
            loss = train_step(model, optimizer, shard(batch, rank, world_size))
            if step % 20 == 0 or step == args.steps - 1:
                # The mean of the shards' losses is the loss of the combined batch; every process
                # must join the all-reduce, so the condition does not depend on the rank.
                dist.all_reduce(loss)
                if rank == 0:
                    print(f'step {step:4d}  loss {loss.item() / world_size:.4f}')
        if args.checkpoint and args.fsdp:
            save_checkpoint(model, optimizer, args.checkpoint)
        elif args.checkpoint:
            # ZeRO's state is spread over the processes; every process must take part in gathering it.
            if args.zero:
                optimizer.consolidate_state_dict(to=0)
            if rank == 0:
                torch.save({'model': model.module.state_dict(), 'optimizer': optimizer.state_dict()},
                           args.checkpoint)
        # Let every process finish its collectives before any of them tears the group down.
        dist.barrier()
    finally:
        dist.destroy_process_group()


if __name__ == '__main__':
    main()
