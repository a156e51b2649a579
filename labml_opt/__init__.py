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

This page holds the two pieces that all of them share:

* [`GenericAdaptiveOptimizer`](#GenericAdaptiveOptimizer), a template for `step()`. It checks
  the hyper-parameters once, walks the param groups, creates each parameter's state the first time
  it has a gradient, and hands one parameter at a time to the subclass.
* [`WeightDecay`](#WeightDecay), the three ways of shrinking weights: $L_2$ added to the gradient,
  decoupled decay scaled by the learning rate, and absolute decoupled decay.

An algorithm then only writes `init_state` and `step_param`; [Adam](adam.html) splits its
`step_param` further into hooks (`get_mv`, `get_lr`, `adam_update`) so that its variants
override one idea each.

## The optimizers

* The classics, told as a story in which each fixes the last one's weakness:
  [SGD with momentum](sgd.html), [Adagrad](adagrad.html), [Adadelta](adadelta.html),
  [RMSprop](rmsprop.html), and then [Adam](adam.html).
* Adam's family: [AMSGrad](amsgrad.html), [AdamW](adamw.html), [RAdam](radam.html),
  [AdaBelief](ada_belief.html), [NAdam](nadam.html), [Adamax](adamax.html), and the second-order
  [Sophia](sophia.html).
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

For a param group of about four million elements or more, the default `step()` runs the same math
as the annotated code, compiled into one fused loop over the whole group ([the fast path](fast.html)),
for every optimizer here. Measured against `torch.optim` and the memory-bandwidth floor in the same
run with `python benchmarks/optimizer_step.py`:

[[include: results/optimizer_step.md]]
"""

import math
from typing import Any, Callable, Dict, Iterable, Optional, Union

import torch
from torch import nn

# The types a user may pass as `params`: tensors, or dicts that form param groups.
Params = Union[Iterable[torch.Tensor], Iterable[Dict[str, Any]]]


class GenericAdaptiveOptimizer(torch.optim.Optimizer):
    """
    <a id="GenericAdaptiveOptimizer"></a>

    ## The template optimizer

    A subclass supplies `init_state(state, group, param)`, which creates the per-parameter
    state, and `step_param(state, group, grad, param)`, which updates one parameter in place.
    Everything that is the same for every algorithm lives here, once.
    """

    def __init__(self, params: Params, defaults: Dict[str, Any]):
        r"""
        * `params` is an iterable of parameters, or of dicts that define param groups
        * `defaults` holds the default hyper-parameters of every group, such as the learning
          rate `lr` ($\alpha$), `betas` ($\beta_1, \beta_2$) and `eps` ($\epsilon$)

        The common hyper-parameters are checked here, so that a bad value fails at construction,
        naming the optimizer, the parameter and the value, not as a NaN many steps later.
        """
        self.check_hyperparameters(defaults)
        super().__init__(params, defaults)

    def check(self, name: str, value: Any, valid: bool, requirement: str):
        """
        Raise a `ValueError` that names the optimizer, the hyper-parameter `name` and its `value`
        unless `valid` holds; `requirement` says what a good value looks like.
        """
        if not valid:
            raise ValueError(f'Invalid {name} {value!r} for {type(self).__name__}: must be {requirement}')

    def check_hyperparameters(self, defaults: Dict[str, Any]):
        """
        Check the hyper-parameters that many optimizers share. A NaN fails every comparison, so
        `not value >= 0` rejects it along with negative values.
        """
        for name, value in defaults.items():
            if isinstance(value, float):
                self.check(name, value, not math.isnan(value), 'a number, not NaN')
        for name in ('lr', 'eps', 'weight_decay'):
            if name in defaults:
                self.check(name, defaults[name], defaults[name] >= 0, '>= 0')
        if 'betas' in defaults:
            betas = defaults['betas']
            self.check('betas', betas, isinstance(betas, (tuple, list)) and len(betas) == 2, 'a pair (beta1, beta2)')
            for i, beta in enumerate(betas):
                self.check(f'beta{i + 1}', beta, 0 <= beta < 1, 'in [0, 1)')

    def add_param_group(self, param_group: Dict[str, Any]):
        r"""
        Our updates are written for real tensors. Rather than silently computing $g^2$ where
        $g \bar{g} = |g|^2$ is meant, complex parameters are refused when they arrive.
        """
        super().add_param_group(param_group)
        for param in self.param_groups[-1]['params']:
            if param.is_complex():
                raise ValueError(f'{type(self).__name__} does not support complex parameters '
                                 f'(got one of dtype {param.dtype}); use torch.view_as_real')

    def init_state(self, state: Dict[str, Any], group: Dict[str, Any], param: nn.Parameter):
        """Create the state of parameter `param`; called before its first update."""
        raise NotImplementedError

    def step_param(self, state: Dict[str, Any], group: Dict[str, Any], grad: torch.Tensor, param: nn.Parameter):
        """Update `param` in place, given its gradient `grad`."""
        raise NotImplementedError

    @torch.no_grad()
    def step(self, closure: Optional[Callable[[], float]] = None):
        """
        ### One optimization step

        `closure`, if given, re-evaluates the model and returns the loss; it needs gradients,
        so it runs with autograd enabled, outside the `no_grad` that covers the updates.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()

        for group in self.param_groups:
            # A group that qualifies is updated all at once by the same math compiled into one
            # loop ([the fast path](fast.html)); otherwise each parameter goes through the code below.
            if fast_group_step(self, group):
                continue
            for param in group['params']:
                # A parameter that took no part in the loss has no gradient and is left alone.
                if param.grad is None:
                    continue
                grad = param.grad
                if grad.is_sparse:
                    raise RuntimeError(f'{type(self).__name__} does not support sparse gradients')
                # To maximize $f$, descend on $-f$, whose gradient is $-g$.
                if group.get('maximize', False):
                    grad = -grad
                state = self.state[param]
                # State is created lazily, so that parameters without gradients cost no memory.
                if len(state) == 0:
                    self.init_state(state, group, param)
                self.step_param(state, group, grad, param)

        return loss

    def __getstate__(self) -> Dict[str, Any]:
        """
        `torch.optim` pickles only `defaults`, `state` and `param_groups`. Our optimizers also keep
        settings as attributes (the `WeightDecay` rule, `optimized_update`), which `copy.deepcopy`
        and pickling (as in a `spawn`ed worker) must carry too. Private attributes, such as caches,
        are rebuilt on demand.
        """
        settings = {name: value for name, value in self.__dict__.items() if not name.startswith('_')}
        return {**settings, **super().__getstate__()}

    def state_dict(self) -> Dict[str, Any]:
        """
        The usual `state_dict`, plus the optimizer's class name. `torch.optim` ignores the extra
        key, and it lets `load_state_dict` say what was loaded into what.
        """
        return {**super().state_dict(), 'optimizer': type(self).__name__}

    def load_state_dict(self, state_dict: Dict[str, Any]):
        r"""
        Refuse a state that another algorithm saved, before anything is changed.
        Each saved parameter state must have exactly the keys that `init_state` would create:
        loading [Adam](adam.html)'s state into [AMSGrad](amsgrad.html) would otherwise fail with a
        `KeyError` on the first step, or run on without $\max v_t$.

        A number that `torch.optim` saves as a 0-d tensor (`step`, NAdam's `mu_product`) is turned
        back into the Python number our `init_state` uses for it.
        """
        source = state_dict.get('optimizer', 'a state_dict with no optimizer name (torch.optim?)')
        saved_ids = [i for group in state_dict['param_groups'] for i in group['params']]
        ours = [(group, param) for group in self.param_groups for param in group['params']]
        fresh_states = {}
        for saved_id, (group, param) in zip(saved_ids, ours):
            saved = state_dict['state'].get(saved_id)
            if not saved:
                continue
            fresh: Dict[str, Any] = {}
            self.init_state(fresh, group, param)
            missing, extra = fresh.keys() - saved.keys(), saved.keys() - fresh.keys()
            if missing or extra:
                raise ValueError(f'Cannot load the state of {source} into {type(self).__name__}: '
                                 f'its parameter state has keys {sorted(saved)}, '
                                 f'{type(self).__name__} needs {sorted(fresh)}')
            fresh_states[param] = fresh

        super().load_state_dict(state_dict)

        for param, fresh in fresh_states.items():
            state = self.state[param]
            for key, value in fresh.items():
                if isinstance(value, (int, float)) and isinstance(state[key], torch.Tensor):
                    state[key] = type(value)(state[key].item())


class WeightDecay:
    r"""
    <a id="WeightDecay"></a>

    ## Weight decay

    Weight decay pulls parameters towards zero. There are three ways to do it, and the difference
    matters for adaptive optimizers (see [AdamW](adamw.html)):

    * **$L_2$ regularization** adds $\frac{\lambda}{2} \lVert \theta \rVert^2$ to the loss, so
      the gradient becomes $g_t + \lambda \theta_{t-1}$. It then passes through the moment
      estimates and is divided by $\sqrt{\hat{v}_t}$ like the rest of the gradient.
    * **Decoupled decay** shrinks the parameters directly, outside the adaptive update:
      $\theta_{t-1} \leftarrow \theta_{t-1} (1 - \alpha \lambda)$.
    * **Absolute decoupled decay** does the same without the learning rate:
      $\theta_{t-1} \leftarrow \theta_{t-1} (1 - \lambda)$.

    The coefficient $\lambda$ lives in each param group as `weight_decay`, so groups can differ;
    this object only says which of the three rules to apply.
    """

    def __init__(self, weight_decay: float = 0., weight_decouple: bool = True, absolute: bool = False):
        r"""
        * `weight_decay` is the default decay coefficient $\lambda$
        * `weight_decouple` chooses decoupled decay over $L_2$ in the gradient
        * `absolute` makes decoupled decay ignore the learning rate
        """
        if absolute and not weight_decouple:
            raise ValueError('Invalid absolute=True for WeightDecay: absolute decay must be decoupled '
                             '(weight_decouple=True)')
        self.weight_decay = weight_decay
        self.weight_decouple = weight_decouple
        self.absolute = absolute

    def defaults(self) -> Dict[str, Any]:
        """The default for each param group's `weight_decay`."""
        return dict(weight_decay=self.weight_decay)

    def __call__(self, param: torch.nn.Parameter, grad: torch.Tensor, group: Dict[str, Any]) -> torch.Tensor:
        r"""
        Apply the decay to `param` or `grad`, and return the gradient the optimizer should use.
        With $\lambda = 0$ nothing is touched: no multiplication by one on every step.
        """
        decay = group['weight_decay']
        if decay == 0:
            return grad
        if not self.weight_decouple:
            # $g_t + \lambda \theta_{t-1}$, in a new tensor: `param.grad` belongs to the user.
            return grad.add(param, alpha=decay)
        if self.absolute:
            # $\theta_{t-1} \leftarrow \theta_{t-1} (1 - \lambda)$
            param.mul_(1 - decay)
        else:
            # $\theta_{t-1} \leftarrow \theta_{t-1} (1 - \alpha \lambda)$
            param.mul_(1 - group['lr'] * decay)
        return grad


def as_weight_decay(weight_decay: Union[float, WeightDecay], decoupled: bool) -> WeightDecay:
    """
    Optimizers take `weight_decay` as a float with the meaning `torch.optim` gives it for that
    algorithm ($L_2$ for Adam, decoupled for AdamW), or as a `WeightDecay` that says which rule to use.
    """
    if isinstance(weight_decay, WeightDecay):
        return weight_decay
    return WeightDecay(weight_decay, weight_decouple=decoupled)


# The optimizers import the base class above, so they are imported last.
from labml_opt.adam import Adam  # noqa: E402
from labml_opt.amsgrad import AMSGrad  # noqa: E402
from labml_opt.adamw import AdamW  # noqa: E402
from labml_opt.radam import RAdam  # noqa: E402
from labml_opt.ada_belief import AdaBelief  # noqa: E402
from labml_opt.nadam import NAdam  # noqa: E402
from labml_opt.adamax import Adamax  # noqa: E402
from labml_opt.shared_adam import SharedAdam  # noqa: E402
from labml_opt.sgd import SGD  # noqa: E402
from labml_opt.adagrad import Adagrad  # noqa: E402
from labml_opt.adadelta import Adadelta  # noqa: E402
from labml_opt.rmsprop import RMSprop  # noqa: E402
from labml_opt.adam_warmup import AdamWarmup  # noqa: E402
from labml_opt.adam_warmup_cosine_decay import AdamWarmupCosineDecay  # noqa: E402
from labml_opt.noam import Noam  # noqa: E402
from labml_opt.sophia import Sophia  # noqa: E402

# The fast path needs the optimizers it compiles, so it is imported after them.
from labml_opt.fast import fast_group_step  # noqa: E402
