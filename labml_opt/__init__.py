r"""
---
title: Annotated optimizers
summary: PyTorch optimizers written as literate code, with the math next to the lines that compute it.
---

# Annotated optimizers

Every optimizer here is a drop-in `torch.optim.Optimizer`: it takes param groups, saves and
loads a `state_dict`, works with `torch.optim.lr_scheduler`, closures and step hooks. Each lives
in its own module, and each module reads as a page: the update rule in $\LaTeX$ first, then the
code that computes it, one equation at a time.

All of them fill in [the template optimizer](optimizer.html): an algorithm writes `init_state`,
`step_numbers` (the numbers of step $t$, such as bias corrections) and `step_param` (the tensor
math), and [Adam](adam.html) splits its `step_param` further into hooks (`get_mv`, `adam_update`)
so that its variants override one idea each. The same code runs as written for small groups and
[compiled into one loop](fast.html) for large ones.

## The optimizers

* The classics, told as a story in which each fixes the last one's weakness:
  [SGD with momentum](sgd.html), [Adagrad](adagrad.html), [Adadelta](adadelta.html),
  [RMSprop](rmsprop.html), and then [Adam](adam.html).
* Adam's family: [AMSGrad](amsgrad.html), [AdamW](adamw.html), [RAdam](radam.html),
  [AdaBelief](ada_belief.html), [NAdam](nadam.html), [Adamax](adamax.html), and the second-order
  [Sophia](sophia.html).
* The modern optimizers: [Lion](lion.html), the sign of a momentum, found by program search;
  [AdEMAMix](ademamix.html), Adam with a second momentum that remembers ten thousand steps;
  [Schedule-Free SGD](schedule_free_sgd.html) and [Schedule-Free AdamW](schedule_free_adamw.html),
  which replace the learning-rate schedule with an average of the iterates.
* Learning-rate schedules built into Adam: [warm-up](adam_warmup.html),
  [warm-up with cosine decay](adam_warmup_cosine_decay.html) and [Noam](noam.html).
* Beyond one process: [SharedAdam](shared_adam.html) for Hogwild training,
  [DistributedDataParallel and ZeRO](distributed.html), and
  [gradient accumulation](accumulate.html).

## How they compare

Ten of them train the same MLP on real MNIST digits, from the same initial weights on the same
batches ([the experiment](experiments/compare.html)); rerun it with
`python -m labml_opt.experiments.compare`.

![Training loss of ten optimizers on MNIST digits](experiments/results/compare_loss.svg)

[[include: experiments/results/compare_table.md]]

## How fast they are

For a param group of about four million elements or more, the default `step()` runs each page's own
`step_param`, compiled into one fused loop ([the fast path](fast.html)), for every optimizer here. Measured against `torch.optim` and the memory-bandwidth floor in the same
run with `python benchmarks/optimizer_step.py`:

[[include: results/optimizer_step.md]]
"""

from labml_opt.optimizer import GenericAdaptiveOptimizer, Numbers, Params, WeightDecay, as_weight_decay
from labml_opt.adam import Adam
from labml_opt.amsgrad import AMSGrad
from labml_opt.adamw import AdamW
from labml_opt.radam import RAdam
from labml_opt.ada_belief import AdaBelief
from labml_opt.nadam import NAdam
from labml_opt.adamax import Adamax
from labml_opt.shared_adam import SharedAdam
from labml_opt.sgd import SGD
from labml_opt.adagrad import Adagrad
from labml_opt.adadelta import Adadelta
from labml_opt.rmsprop import RMSprop
from labml_opt.adam_warmup import AdamWarmup
from labml_opt.adam_warmup_cosine_decay import AdamWarmupCosineDecay
from labml_opt.noam import Noam
from labml_opt.sophia import Sophia
from labml_opt.lion import Lion
from labml_opt.ademamix import AdEMAMix
from labml_opt.schedule_free_sgd import ScheduleFreeSGD
from labml_opt.schedule_free_adamw import ScheduleFreeAdamW, ScheduleFreeAdamWPaper

__all__ = ['GenericAdaptiveOptimizer', 'Numbers', 'Params', 'WeightDecay', 'as_weight_decay',
           'Adam', 'AMSGrad', 'AdamW', 'RAdam', 'AdaBelief', 'NAdam', 'Adamax', 'SharedAdam', 'SGD', 'Adagrad',
           'Adadelta', 'RMSprop', 'AdamWarmup', 'AdamWarmupCosineDecay', 'Noam', 'Sophia',
           'Lion', 'AdEMAMix', 'ScheduleFreeSGD', 'ScheduleFreeAdamW',
           'ScheduleFreeAdamWPaper']
