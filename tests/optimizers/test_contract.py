"""
The `torch.optim.Optimizer` contract, as one table with an entry per optimizer the package exports.

Each entry names the optimizer's reference (its `torch.optim` counterpart, or an independent one
from `references.py`), the flags to run against it, what its defaults must be, and the values it
must refuse. Every test below is parametrized over the table: parity with the reference for every
flag in float32 and float64, tiny gradients, a parameter listed twice, defaults, resume,
`state_dict` interop with torch both ways, learning-rate schedulers, closures, hooks, validation,
and real learning on real data. A newly exported optimizer must get an entry.
"""

import copy
import dataclasses
import functools
import inspect
import itertools
import re
import warnings
from typing import Any, Callable, Dict, List, Optional

import lion_pytorch
import prodigyopt
import pytest
import pytorch_optimizer
import schedulefree
import torch

import labml_opt
from labml_opt import GenericAdaptiveOptimizer, WeightDecay
from tests.optimizers.parity import (TOLERANCE, clone_params, gradients, make_params, max_param_difference,
                                     max_scaled_difference, param_groups, resumed_and_uninterrupted, train)
from tests.optimizers.references import (AMSGradRAdamReference, AdaBeliefReference, LAMBReference, MuonAndAdamW,
                                         NAdamInParamDtype,
                                         SophiaReference, cosine_lr, decayed, noam_lr, scheduled, warmup_lr)

OPTIMIZERS = sorted((value for value in vars(labml_opt).values()
                     if isinstance(value, type) and issubclass(value, torch.optim.Optimizer)
                     and value is not GenericAdaptiveOptimizer),
                    key=lambda cls: cls.__name__)

# Flags only our optimizers have: the reference is told nothing of them.
OURS_ONLY = {'optimized_update', 'lock', 'decoupled_weight_decay'}


def training(make: Callable) -> Callable:
    """
    `make`, then train mode for the optimizers that have one: Schedule-Free optimizers start in eval
    mode and step only in train mode, as their reference package's do.
    """
    def made(*args, **kwargs):
        optimizer = make(*args, **kwargs)
        if hasattr(optimizer, 'train'):
            optimizer.train()
        return optimizer
    return made


def package_defaults(cls, *names) -> Dict[str, Any]:
    """The defaults of a reference package's class, for the arguments `names`."""
    parameters = inspect.signature(cls.__init__).parameters
    return {name: parameters[name].default for name in names}


def flags(**axes) -> List[Dict[str, Any]]:
    """Every combination of the given flag values."""
    return [dict(zip(axes, values)) for values in itertools.product(*axes.values())]


@dataclasses.dataclass
class Entry:
    cls: type
    # The reference for a combination of flags: a class or factory taking param groups and keyword
    # arguments; its `weight_decay`, if any, is L2.
    reference: Callable[[Dict[str, Any]], Callable]
    # Hyper-parameters for both sides, and for the second param group.
    kwargs: Dict[str, Any]
    second_group: Dict[str, Any]
    # The flag combinations to run against the reference, in float32 and float64.
    flags: List[Dict[str, Any]] = dataclasses.field(default_factory=lambda: [{}])
    # The weight-decay rules to run: the float argument (L2, or decoupled where the class says so)
    # and the three `WeightDecay` rules.
    decays: tuple = ('float', 'l2', 'decoupled', 'absolute')
    # What a float `weight_decay` means for this class, and where torch has decoupled decay of its
    # own, its class for a combination of flags; otherwise `references.decayed` adds it in front
    # of the reference.
    float_decay: str = 'l2'
    decoupled_reference: Callable[[Dict[str, Any]], Optional[Callable]] = lambda flags: None
    # The torch class with the same algorithm: its defaults are ours, and its state_dict loads into
    # ours and back. `interop` are the flag combinations for that check; the optimizer that loads
    # is built without them, so each must come back from the saved groups.
    torch_cls: Optional[type] = None
    interop: List[Dict[str, Any]] = dataclasses.field(default_factory=lambda: [{}])
    # Defaults that torch does not define for us, from the paper or the authors' code, and the
    # reference built with them (None: check the values only).
    paper_defaults: Dict[str, Any] = dataclasses.field(default_factory=dict)
    default_reference: Optional[Callable] = None
    # Where the defaults of a variant without a torch class come from, if torch has them.
    torch_defaults: Optional[type] = None
    # Hyper-parameters for gradients of about 1e-6, where eps decides the step (adaptive optimizers).
    tiny: Optional[Dict[str, Any]] = None
    # Bad values this optimizer refuses beyond the common ones: (arguments, shown as, requirement).
    bad: List[tuple] = dataclasses.field(default_factory=list)
    # Real learning: constructor arguments, steps and the factor by which the loss must fall.
    learns: Dict[str, Any] = dataclasses.field(default_factory=dict)
    # Flags of ours that the reference expresses by its choice of class instead.
    ours_only: tuple = ()
    # A schedule counts each parameter's own steps. A parameter listed twice takes two per `step()`,
    # one without a gradient fewer, and no reference that schedules per `step()` can follow that.
    per_parameter_schedule: bool = False
    # How the optimizer takes its gradients (parity.train): 'dense', 'sparse' (SparseAdam) or from a
    # 'closure' (L-BFGS). Tests written around dense gradients in `param.grad` run for 'dense' only.
    step_with: str = 'dense'
    # An optimizer of matrices only (Muon): every tensor the tests give it is 2-D.
    matrices: bool = False
    # The param groups the class is given for a list of tensors or of groups (MuonWithAuxAdam's must
    # each say `use_muon`); the reference is given the same.
    groups: Callable[[Any], Any] = lambda params: params

    @property
    def name(self) -> str:
        return self.cls.__name__

    def make(self, params, **kwargs) -> torch.optim.Optimizer:
        """The class on `params`, through `groups`, in train mode where it has one."""
        return training(self.cls)(self.groups(params), **kwargs)

    def params(self, dtype: torch.dtype = torch.float32, seed: int = 0) -> List[torch.Tensor]:
        """The tests' parameters of mixed shapes, or of matrices only."""
        return make_params(dtype, seed, matrices=self.matrices)

    def zeros(self, n: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """One parameter of `n` zeros: a vector, or a row for an optimizer of matrices."""
        return torch.zeros((1, n) if self.matrices else (n,), dtype=dtype, requires_grad=True)


def muon_and_adamw_groups(params) -> List[Dict[str, Any]]:
    """
    MuonWithAuxAdam's groups: each group's matrices go to Muon and its other tensors to AdamW, in
    two groups that keep the group's other keys (a list of tensors is one group).
    """
    params = list(params)
    groups = params if params and isinstance(params[0], dict) else [{'params': params}]
    split = []
    for group in groups:
        tensors = list(group['params'])
        for use_muon in (True, False):
            chosen = [p for p in tensors if (p.ndim == 2) == use_muon]
            if chosen:
                split.append({**group, 'params': chosen, 'use_muon': use_muon})
    return split


def torch_adam(flags):
    return torch.optim.Adam


def torch_adamw(flags):
    return torch.optim.AdamW


def paper(cls):
    return lambda flags: cls


ADAM_FLAGS = flags(optimized_update=[True, False], maximize=[False, True])
ADAM_BAD = [(dict(betas=(0.9, 1.0)), 'beta2 1.0', 'in [0, 1)')]
ADAM_TINY = dict(eps=1e-6)
ADAM_SECOND = dict(lr=3e-3, betas=(0.9, 0.95), eps=1e-6)
SCHEDULED_BAD = [(dict(warmup=-1), 'warmup -1', 'an integer >= 0'), (dict(warmup=2.5), 'warmup 2.5', 'an integer >= 0'),
                 (dict(warmup=float('nan')), 'warmup nan', 'an integer >= 0')]

TABLE = [
    Entry(labml_opt.Adam, torch_adam, dict(lr=1e-2, betas=(0.8, 0.99)), ADAM_SECOND,
          ADAM_FLAGS + [dict(amsgrad=True), dict(amsgrad=True, optimized_update=False, maximize=True)],
          decoupled_reference=torch_adamw, torch_cls=torch.optim.Adam, tiny=ADAM_TINY, bad=ADAM_BAD,
          interop=[{}, dict(amsgrad=True), dict(decoupled_weight_decay=True)],
          learns=dict(kwargs=dict(lr=3e-2), steps=100, factor=10)),
    Entry(labml_opt.AMSGrad, torch_adam, dict(lr=1e-2, betas=(0.8, 0.99)), ADAM_SECOND,
          flags(amsgrad=[True, False], optimized_update=[True, False], maximize=[False, True]),
          decoupled_reference=torch_adamw, torch_cls=functools.partial(torch.optim.Adam, amsgrad=True),
          interop=[dict(amsgrad=True), dict(amsgrad=False)], tiny=dict(ADAM_TINY, amsgrad=True), bad=ADAM_BAD,
          learns=dict(kwargs=dict(lr=3e-2), steps=100, factor=10)),
    Entry(labml_opt.AdamW, torch_adam, dict(lr=1e-2, betas=(0.8, 0.99)), ADAM_SECOND,
          ADAM_FLAGS + [dict(amsgrad=True), dict(amsgrad=True, optimized_update=False, maximize=True)],
          float_decay='decoupled', decoupled_reference=torch_adamw, torch_cls=torch.optim.AdamW,
          interop=[{}, dict(amsgrad=True)],
          tiny=ADAM_TINY, bad=ADAM_BAD, learns=dict(kwargs=dict(lr=3e-2), steps=100, factor=10)),
    Entry(labml_opt.RAdam, lambda flags: AMSGradRAdamReference if flags.get('amsgrad') else torch.optim.RAdam,
          # The default beta2 = 0.999 gives five unrectified steps, then rectified ones.
          dict(lr=1e-2), dict(lr=3e-3, betas=(0.8, 0.99)),
          flags(amsgrad=[False, True], decoupled_weight_decay=[False, True], optimized_update=[True, False],
                maximize=[False, True]),
          decoupled_reference=lambda flags: None if flags.get('amsgrad') else functools.partial(
              torch.optim.RAdam, decoupled_weight_decay=True),
          torch_cls=torch.optim.RAdam, interop=[{}, dict(decoupled_weight_decay=True)], tiny=ADAM_TINY, bad=ADAM_BAD,
          # RAdam's rectification keeps its steps small early on (r_t is about 0.2 at step 100).
          learns=dict(kwargs=dict(lr=1e-1), steps=200, factor=10), ours_only=('amsgrad',)),
    Entry(labml_opt.AdaBelief, paper(AdaBeliefReference), dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-12),
          dict(lr=3e-3, eps=1e-8),
          flags(amsgrad=[False, True], rectify=[False, True], decoupled_weight_decay=[True, False],
                optimized_update=[True, False], maximize=[False, True]),
          float_decay='decoupled',
          # The authors' adabelief-pytorch 0.2: eps 1e-16, decoupled decay, rectified, no AMSGrad.
          paper_defaults=dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-16, weight_decay=0., amsgrad=False),
          default_reference=lambda groups: decayed(AdaBeliefReference)(
              groups, lr=1e-3, betas=(0.9, 0.999), eps=1e-16, amsgrad=False, rectify=True),
          tiny=dict(eps=1e-6), bad=ADAM_BAD, learns=dict(kwargs=dict(lr=1e-1), steps=100, factor=10)),
    Entry(labml_opt.NAdam, paper(NAdamInParamDtype), dict(lr=1e-2, betas=(0.8, 0.99)),
          dict(lr=3e-3, momentum_decay=0.05),
          flags(decoupled_weight_decay=[False, True], optimized_update=[True, False], maximize=[False, True]),
          decoupled_reference=lambda flags: functools.partial(NAdamInParamDtype, decoupled_weight_decay=True),
          torch_cls=torch.optim.NAdam, interop=[dict(momentum_decay=6e-3), dict(decoupled_weight_decay=True)],
          tiny=ADAM_TINY,
          bad=ADAM_BAD + [(dict(momentum_decay=-1e-3), 'momentum_decay -0.001', '>= 0'),
                          (dict(momentum_decay=float('nan')), 'momentum_decay nan', '>= 0')],
          learns=dict(kwargs=dict(lr=3e-2), steps=100, factor=10)),
    Entry(labml_opt.Adamax, paper(torch.optim.Adamax), dict(lr=1e-2, betas=(0.8, 0.99)), dict(lr=3e-3),
          flags(maximize=[False, True]), torch_cls=torch.optim.Adamax, tiny=ADAM_TINY, bad=ADAM_BAD,
          learns=dict(kwargs=dict(lr=1e-1), steps=100, factor=10)),
    Entry(labml_opt.SharedAdam, torch_adam, dict(lr=1e-2, betas=(0.8, 0.99)), ADAM_SECOND,
          flags(lock=[False, True], optimized_update=[True, False], maximize=[False, True]),
          decoupled_reference=torch_adamw, torch_cls=torch.optim.Adam, tiny=ADAM_TINY, bad=ADAM_BAD,
          learns=dict(kwargs=dict(lr=3e-2), steps=100, factor=10)),
    Entry(labml_opt.SGD, paper(torch.optim.SGD), dict(lr=1e-2), dict(lr=3e-2),
          # Nesterov needs momentum and no dampening; the second group then has a momentum of its own.
          [f for f in flags(momentum=[0., 0.9], dampening=[0., 0.3], nesterov=[False, True], maximize=[False, True])
           if not f['nesterov'] or (f['momentum'] and not f['dampening'])],
          torch_cls=torch.optim.SGD, interop=[{}, dict(momentum=0.9, nesterov=True), dict(momentum=0.9, dampening=0.3)],
          bad=[(dict(momentum=-0.5), 'momentum -0.5', '>= 0'), (dict(momentum=float('nan')), 'momentum nan', '>= 0'),
               (dict(dampening=1.5), 'dampening 1.5', 'in [0, 1]'),
               (dict(nesterov=True), 'nesterov True', 'False unless momentum > 0 and dampening == 0'),
               (dict(nesterov=True, momentum=0.9, dampening=0.1), 'nesterov True',
                'False unless momentum > 0 and dampening == 0')],
          learns=dict(kwargs=dict(lr=0.5, momentum=0.9), steps=100, factor=10)),
    Entry(labml_opt.Adagrad, paper(torch.optim.Adagrad), dict(lr=1e-1), dict(lr=3e-2, lr_decay=5e-3, eps=1e-6),
          # torch fills every group's sum with the constructor's initial_accumulator_value, so the
          # second group keeps it; test_adagrad checks a group's own.
          flags(lr_decay=[0., 1e-2], initial_accumulator_value=[0., 0.1], maximize=[False, True]),
          torch_cls=torch.optim.Adagrad, interop=[dict(lr_decay=1e-2, initial_accumulator_value=0.1)],
          tiny=dict(eps=1e-6),
          bad=[(dict(lr_decay=-1e-3), 'lr_decay -0.001', '>= 0'), (dict(lr_decay=float('nan')), 'lr_decay nan', '>= 0'),
               (dict(initial_accumulator_value=-0.1), 'initial_accumulator_value -0.1', '>= 0')],
          learns=dict(kwargs=dict(lr=0.3), steps=100, factor=10)),
    Entry(labml_opt.Adadelta, paper(torch.optim.Adadelta), dict(lr=1.0), dict(lr=0.3, rho=0.5, eps=1e-4),
          flags(rho=[0.9, 0.8], maximize=[False, True]), torch_cls=torch.optim.Adadelta, interop=[dict(rho=0.8)],
          tiny=dict(eps=1e-9),
          bad=[(dict(rho=1.5), 'rho 1.5', 'in [0, 1]'), (dict(rho=-0.1), 'rho -0.1', 'in [0, 1]'),
               (dict(rho=float('nan')), 'rho nan', 'in [0, 1]')],
          # Adadelta's steps start at about sqrt(eps) in size and grow as its accumulated updates do.
          learns=dict(kwargs=dict(lr=1.0), steps=300, factor=8)),
    Entry(labml_opt.RMSprop, paper(torch.optim.RMSprop), dict(lr=1e-2), dict(lr=3e-3, alpha=0.9, eps=1e-6),
          flags(centered=[False, True], momentum=[0., 0.9], maximize=[False, True]),
          torch_cls=torch.optim.RMSprop, interop=[dict(centered=True, momentum=0.9)], tiny=dict(eps=1e-6),
          bad=[(dict(alpha=-0.1), 'alpha -0.1', 'in [0, 1]'), (dict(alpha=1.5), 'alpha 1.5', 'in [0, 1]'),
               (dict(alpha=float('nan')), 'alpha nan', 'in [0, 1]'),
               (dict(momentum=-0.9), 'momentum -0.9', '>= 0')],
          learns=dict(kwargs=dict(lr=3e-2), steps=100, factor=10)),
    # The schedules: torch's Adam with each step's lr set to the schedule's closed form. Decay
    # decoupled relative to lr is left out: whether it should follow the scheduled lr or the peak
    # is open (see the report of issue 11); absolute decay does not depend on it.
    Entry(labml_opt.AdamWarmup, lambda flags: scheduled(warmup_lr, warmup=30),
          dict(lr=1e-2, betas=(0.8, 0.99), warmup=30), dict(lr=3e-3, warmup=120),
          flags(optimized_update=[True, False], maximize=[False, True]) + [dict(warmup=0)],
          decays=('float', 'l2', 'absolute'), tiny=dict(ADAM_TINY, warmup=10), bad=ADAM_BAD + SCHEDULED_BAD,
          per_parameter_schedule=True, torch_defaults=torch.optim.Adam,
          learns=dict(kwargs=dict(lr=3e-2, warmup=10), steps=100, factor=10)),
    Entry(labml_opt.AdamWarmupCosineDecay,
          lambda flags: scheduled(cosine_lr, warmup=20, total_steps=150, final_lr_ratio=0.1),
          # Group one decays to its floor at step 150 and stays there; group two still decays at 200.
          dict(lr=1e-2, betas=(0.8, 0.99), warmup=20, total_steps=150, final_lr_ratio=0.1),
          dict(lr=3e-3, warmup=5, total_steps=300, final_lr_ratio=0.),
          flags(optimized_update=[True, False], maximize=[False, True])
          + [dict(warmup=0, total_steps=50, final_lr_ratio=1.)],
          decays=('float', 'l2', 'absolute'), tiny=dict(ADAM_TINY, warmup=10), per_parameter_schedule=True,
          torch_defaults=torch.optim.Adam,
          # torch's CosineAnnealingLR also decays to zero unless told otherwise.
          paper_defaults=dict(final_lr_ratio=0.),
          bad=ADAM_BAD + SCHEDULED_BAD + [
              (dict(total_steps=100, warmup=100), 'total_steps 100', 'an integer > warmup (100)'),
              (dict(total_steps=50, warmup=100), 'total_steps 50', 'an integer > warmup (100)'),
              (dict(total_steps=200.5, warmup=100), 'total_steps 200.5', 'an integer > warmup (100)'),
              (dict(final_lr_ratio=-0.1), 'final_lr_ratio -0.1', 'in [0, 1]'),
              (dict(final_lr_ratio=1.5), 'final_lr_ratio 1.5', 'in [0, 1]'),
              (dict(final_lr_ratio=float('nan')), 'final_lr_ratio nan', 'a number, not NaN')],
          learns=dict(kwargs=dict(lr=3e-2, warmup=10, total_steps=200), steps=100, factor=10)),
    Entry(labml_opt.Noam, lambda flags: scheduled(noam_lr, warmup=40, d_model=16),
          dict(lr=0.5, betas=(0.8, 0.99), eps=1e-8, warmup=40, d_model=16), dict(lr=0.2, warmup=10, d_model=64),
          flags(optimized_update=[True, False], maximize=[False, True]),
          # Noam's lr is a factor, so decay relative to it is refused.
          decays=('float', 'l2', 'absolute'), per_parameter_schedule=True,
          # Section 5.3 of Vaswani et al. (2017): beta2 0.98, eps 1e-9, 4000 warm-up steps, d_model 512.
          paper_defaults=dict(lr=1., betas=(0.9, 0.98), eps=1e-9, warmup=4000, d_model=512),
          default_reference=lambda groups: scheduled(noam_lr, warmup=4000, d_model=512)(
              groups, lr=1., betas=(0.9, 0.98), eps=1e-9),
          tiny=dict(eps=1e-6),
          bad=[(dict(warmup=0), 'warmup 0', 'an integer >= 1'), (dict(warmup=-5), 'warmup -5', 'an integer >= 1'),
               (dict(warmup=10.5), 'warmup 10.5', 'an integer >= 1'),
               (dict(d_model=0), 'd_model 0', 'an integer >= 1'),
               (dict(d_model=64.0), 'd_model 64.0', 'an integer >= 1'),
               (dict(weight_decay=WeightDecay(0.1, weight_decouple=True)), re.compile(r'weight_decay .*'),
                'a float (L2) or a WeightDecay that is not decoupled relative to lr, since lr is a factor for Noam')],
          learns=dict(kwargs=dict(lr=1., warmup=10, d_model=16), steps=100, factor=10)),
    # With no `update_hessian` the curvature estimate stays zero and Sophia takes clipped steps of
    # momentum; test_sophia runs Algorithm 3 with the Hessian refreshes.
    Entry(labml_opt.Sophia, paper(SophiaReference), dict(lr=1e-2, betas=(0.965, 0.99), rho=0.04, eps=1e-15),
          dict(lr=3e-3, betas=(0.9, 0.95), rho=0.1),
          flags(maximize=[False, True]), float_decay='decoupled',
          # Liu et al.'s code (SophiaG): lr 1e-4, betas (0.965, 0.99), rho 0.04, weight_decay 0.1,
          # and 1e-15 as the floor of the denominator.
          paper_defaults=dict(lr=1e-4, betas=(0.965, 0.99), rho=0.04, eps=1e-15, weight_decay=0.1),
          default_reference=lambda groups: decayed(SophiaReference)(
              groups, lr=1e-4, betas=(0.965, 0.99), rho=0.04, eps=1e-15, weight_decay=0.1),
          tiny=dict(eps=1e-6),
          bad=[(dict(rho=-0.1), 'rho -0.1', '>= 0'), (dict(rho=float('nan')), 'rho nan', '>= 0'),
               (dict(eps=0.), 'eps 0.0', '> 0'), (dict(eps=-1e-8), 'eps -1e-08', '> 0'),
               (dict(eps=float('nan')), 'eps nan', '> 0'),
               (dict(betas=(0.9, 1.0)), 'beta2 1.0', 'in [0, 1)')],
          learns=dict(kwargs=dict(lr=3e-2), steps=100, factor=10)),
    # torch's other two element-wise classes. Rprop has no weight decay; ASGD's is L2 only.
    Entry(labml_opt.Rprop, paper(torch.optim.Rprop), dict(lr=1e-2), dict(lr=3e-3, etas=(0.3, 1.5), step_sizes=(1e-4, 0.1)),
          flags(etas=[(0.5, 1.2), (0.4, 1.1)], maximize=[False, True]), decays=(), torch_cls=torch.optim.Rprop,
          interop=[dict(etas=(0.4, 1.1))],
          bad=[(dict(etas=(1.5, 1.2)), 'etas (1.5, 1.2)', 'a pair (eta_minus, eta_plus) with 0 < eta_minus < 1 < eta_plus'),
               (dict(step_sizes=(1., 0.1)), 'step_sizes (1.0, 0.1)', 'a pair (min, max) with 0 <= min <= max'),
               (dict(capturable=True), 'capturable True', 'False (CUDA graphs need a GPU)')],
          learns=dict(kwargs=dict(lr=1e-2), steps=100, factor=10)),
    Entry(labml_opt.ASGD, paper(torch.optim.ASGD), dict(lr=1e-2, t0=50), dict(lr=3e-3, lambd=1e-2, alpha=0.5),
          flags(t0=[50, 1e6], maximize=[False, True]), decays=('float',), torch_cls=torch.optim.ASGD,
          interop=[dict(t0=20)],
          # Plain SGD with a decaying rate: slower than the momentum methods above.
          learns=dict(kwargs=dict(lr=1.0), steps=200, factor=10)),
    # Sparse gradients only: every third row is absent from each step's gradient. No weight decay.
    Entry(labml_opt.SparseAdam, paper(torch.optim.SparseAdam), dict(lr=1e-2, betas=(0.8, 0.99)),
          dict(lr=3e-3, betas=(0.9, 0.95), eps=1e-6), flags(maximize=[False, True]), decays=(),
          torch_cls=torch.optim.SparseAdam, interop=[{}, dict(maximize=True)], step_with='sparse',
          tiny=dict(eps=1e-6),
          # torch wants lr and eps positive
          bad=[(dict(lr=-1e-3), 'lr -0.001', '> 0'), (dict(lr=0.), 'lr 0.0', '> 0'),
               (dict(lr=float('nan')), 'lr nan', '> 0'), (dict(eps=0.), 'eps 0.0', '> 0'),
               (dict(eps=-1e-8), 'eps -1e-08', '> 0'), (dict(eps=float('nan')), 'eps nan', '> 0')],
          learns=dict(kwargs=dict(lr=1e-2), steps=100, factor=10)),
    # One param group, steps that call a closure. Each step() is a new quadratic (the noise is its
    # linear term), solved in a few iterations; the memory carries over from step to step.
    # test_lbfgs.py runs it on Rosenbrock's function and on least squares.
    Entry(labml_opt.LBFGS, paper(torch.optim.LBFGS), dict(lr=1., max_iter=5, history_size=4), None,
          flags(line_search_fn=[None, 'strong_wolfe']), decays=(), torch_cls=torch.optim.LBFGS,
          interop=[{}, dict(line_search_fn='strong_wolfe')], step_with='closure',
          bad=[(dict(max_iter=0), 'max_iter 0', 'an integer >= 1'),
               (dict(max_iter=2.5), 'max_iter 2.5', 'an integer >= 1'),
               (dict(max_eval=0), 'max_eval 0', 'an integer >= 1'),
               (dict(history_size=0), 'history_size 0', 'an integer >= 1'),
               (dict(tolerance_grad=-1.), 'tolerance_grad -1.0', '>= 0'),
               (dict(tolerance_change=float('nan')), 'tolerance_change nan', '>= 0')],
          learns=dict(kwargs=dict(line_search_fn='strong_wolfe'), steps=20, factor=10)),
    # The modern optimizers, against their reference packages. Their weight decay rules are their
    # own (not `WeightDecay`'s), so only the float argument runs, meaning what the package means.
    # (test_lion.py runs `decoupled_weight_decay` against the package too)
    Entry(labml_opt.Lion, paper(lion_pytorch.Lion), dict(lr=1e-3, betas=(0.8, 0.95)),
          dict(lr=3e-4, betas=(0.9, 0.99)), decays=('float',),
          paper_defaults=package_defaults(lion_pytorch.Lion, 'lr', 'betas', 'weight_decay'),
          default_reference=lion_pytorch.Lion,
          learns=dict(kwargs=dict(lr=1e-2), steps=100, factor=10)),
    Entry(labml_opt.AdEMAMix, lambda flags: pytorch_optimizer.AdEMAMix, dict(lr=1e-2, betas=(0.8, 0.99, 0.999)),
          dict(lr=3e-3, alpha=2.), flags(weight_decouple=[False, True], maximize=[False, True]) + [dict(alpha=0.)],
          decays=('float',), per_parameter_schedule=True, tiny=dict(eps=1e-6),
          paper_defaults=package_defaults(pytorch_optimizer.AdEMAMix, 'lr', 'betas', 'weight_decay', 'alpha', 'eps'),
          default_reference=pytorch_optimizer.AdEMAMix,
          # A triple of betas: its own rows for the common pair's values
          bad=[(dict(betas=(1.0, 0.999, 0.9999)), 'beta1 1.0', 'in [0, 1)'),
               (dict(betas=(0.9, torch.tensor(0.99))), re.compile(r'betas \(0\.9, tensor\(0\.9900\)\)'),
                'a triple (beta1, beta2, beta3)'),
               (dict(betas=(0.9, -0.1, 0.9999)), 'beta2 -0.1', 'in [0, 1)'),
               (dict(betas=(0.9, float('nan'), 0.9999)), 'beta2 nan', 'in [0, 1)')],
          learns=dict(kwargs=dict(lr=3e-2), steps=100, factor=10)),
    Entry(labml_opt.ScheduleFreeSGD, lambda flags: schedulefree.SGDScheduleFree, dict(lr=0.1), dict(lr=3e-2, momentum=0.8),
          flags(warmup_steps=[0, 20], r=[0., 1.]), decays=('float',), per_parameter_schedule=True,
          paper_defaults=package_defaults(schedulefree.SGDScheduleFree, 'lr', 'momentum', 'weight_decay', 'warmup_steps',
                                          'r', 'weight_lr_power'),
          # Schedule-Free SGD's good learning rates are large (its reference's default is 1).
          learns=dict(kwargs=dict(lr=5.0), steps=100, factor=10)),
    Entry(labml_opt.ScheduleFreeAdamW, lambda flags: schedulefree.AdamWScheduleFree, dict(lr=1e-2, betas=(0.8, 0.99)),
          dict(lr=3e-3), flags(warmup_steps=[0, 20], r=[0., 1.]), decays=('float',), per_parameter_schedule=True,
          tiny=dict(eps=1e-6),
          paper_defaults=package_defaults(schedulefree.AdamWScheduleFree, 'lr', 'betas', 'eps', 'weight_decay',
                                          'warmup_steps', 'r', 'weight_lr_power'),
          default_reference=schedulefree.AdamWScheduleFree, learns=dict(kwargs=dict(lr=3e-2), steps=100, factor=10)),
    Entry(labml_opt.ScheduleFreeAdamWPaper, lambda flags: schedulefree.AdamWScheduleFreePaper,
          dict(lr=1e-2, betas=(0.8, 0.99)), dict(lr=3e-3), flags(warmup_steps=[0, 20]), decays=('float',),
          per_parameter_schedule=True, tiny=dict(eps=1e-6),
          paper_defaults=package_defaults(schedulefree.AdamWScheduleFreePaper, 'lr', 'betas', 'eps', 'weight_decay',
                                          'warmup_steps', 'r', 'weight_lr_power'),
          default_reference=schedulefree.AdamWScheduleFreePaper,
          learns=dict(kwargs=dict(lr=3e-2), steps=100, factor=10)),
    # Muon and Adafactor are torch's; their weight decay is decoupled, and torch's class is the reference for it.
    Entry(labml_opt.Muon, paper(torch.optim.Muon), dict(lr=1e-2, momentum=0.9), dict(lr=3e-3),
          flags(nesterov=[True, False], adjust_lr_fn=[None, 'original', 'match_rms_adamw']) + [dict(ns_steps=3)],
          decays=('float',), float_decay='decoupled', decoupled_reference=paper(torch.optim.Muon),
          torch_cls=torch.optim.Muon, interop=[{}, dict(nesterov=False, adjust_lr_fn='match_rms_adamw')], matrices=True,
          bad=[(dict(momentum=-0.1), 'momentum -0.1', 'in [0, 1)'), (dict(momentum=1.0), 'momentum 1.0', 'in [0, 1)'),
               (dict(ns_steps=100), 'ns_steps 100', 'an integer in [0, 100)'),
               (dict(ns_steps=2.5), 'ns_steps 2.5', 'an integer in [0, 100)'),
               (dict(ns_coefficients=(3., -4.)), 'ns_coefficients (3.0, -4.0)', 'three numbers (a, b, c)'),
               (dict(adjust_lr_fn='arbitrary'), "adjust_lr_fn 'arbitrary'", "None, 'original' or 'match_rms_adamw'"),
               (dict(ns_dtype=torch.int32), 'ns_dtype torch.int32', 'None or a floating-point dtype')],
          learns=dict(kwargs=dict(lr=0.1), steps=100, factor=10)),
    # Groups of each kind with the reference's defaults; the second group's `lr` goes to both of its halves.
    Entry(labml_opt.MuonWithAuxAdam, paper(MuonAndAdamW), {}, dict(lr=3e-3), decays=(),
          default_reference=MuonAndAdamW, groups=muon_and_adamw_groups,
          # The reference's default rates, 0.02 for the weights and 3e-4 for the bias
          learns=dict(kwargs={}, steps=300, factor=10)),
    Entry(labml_opt.Adafactor, paper(torch.optim.Adafactor), dict(lr=1e-2), dict(lr=3e-3, d=1.5, eps=(1e-20, 1e-2)),
          flags(maximize=[False, True], beta2_decay=[-0.8, -0.5]) + [dict(eps=(1e-30, 1e-3), d=2.)],
          decays=('float',), float_decay='decoupled', decoupled_reference=paper(torch.optim.Adafactor),
          torch_cls=torch.optim.Adafactor, interop=[{}, dict(beta2_decay=-0.5)],
          # A pair of epsilons: its own rows for the common single eps
          bad=[(dict(eps=-1e-8), 'eps -1e-08', 'a pair (eps1, eps2)'),
               (dict(eps=float('nan')), 'eps nan', 'a pair (eps1, eps2)'),
               (dict(eps=(-1e-30, 1e-3)), 'eps1 -1e-30', 'None or >= 0'),
               (dict(eps=(None, -1.)), 'eps2 -1.0', '>= 0'), (dict(eps=(None, float('nan'))), 'eps2 nan', '>= 0'),
               (dict(beta2_decay=0.8), 'beta2_decay 0.8', '<= 0'),
               (dict(beta2_decay=float('nan')), 'beta2_decay nan', 'a number, not NaN'),
               (dict(d=0.5), 'd 0.5', '>= 1'), (dict(d=float('nan')), 'd nan', 'a number, not NaN')],
          # Steps relative to the weights, of about 0.03 x their size at first (rho_t = lr). At 0.1 the
          # loss spikes now and then, at steps that the last bits move: torch's for-loop and foreach
          # implementations spike at different steps.
          learns=dict(kwargs=dict(lr=3e-2), steps=250, factor=10)),
    # LAMB's float decay is decoupled by default and the paper's (inside the direction) with
    # weight_decouple=False; pre_norm, whose reference rounds a norm to float32, is in test_lamb.
    Entry(labml_opt.LAMB, lambda flags: pytorch_optimizer.Lamb, dict(lr=1e-2, betas=(0.8, 0.99)),
          dict(lr=3e-3, eps=1e-8),
          # Not maximize with the decay inside the direction: ascent pushes the weights out while
          # the decay pulls them in, the two cancel in the direction, and its trust ratio, divided
          # by the norm of what is left, turns a last-bit difference into any other.
          [dict(), dict(weight_decouple=False), dict(maximize=True), dict(grad_averaging=False), dict(adam=True),
           dict(rectify=True), dict(rectify=True, degenerated_to_sgd=True)],
          # L2's small coefficients, whichever rule runs: a large lambda inside the direction
          # cancels it, with the same effect as maximize.
          decays=('float',), float_decay='l2', per_parameter_schedule=True, tiny=dict(eps=1e-6),
          paper_defaults=package_defaults(pytorch_optimizer.Lamb, 'lr', 'betas', 'weight_decay', 'eps', 'rectify',
                                          'grad_averaging', 'max_grad_norm', 'adam'),
          default_reference=pytorch_optimizer.Lamb,
          bad=[(dict(max_grad_norm=-1.), 'max_grad_norm -1.0', '>= 0'),
               (dict(max_grad_norm=float('nan')), 'max_grad_norm nan', 'a number, not NaN'),
               (dict(n_sma_threshold=-1), 'n_sma_threshold -1', '>= 0'),
               (dict(fixed_decay=True, weight_decouple=False), 'fixed_decay True',
                'False unless weight_decouple=True: it changes only decoupled decay')],
          learns=dict(kwargs=dict(lr=0.1), steps=100, factor=10)),
    Entry(labml_opt.LAMBPaper, paper(LAMBReference), dict(lr=1e-2, betas=(0.8, 0.99)), dict(lr=3e-3, eps=1e-8),
          flags(maximize=[False, True]), decays=('float',), tiny=dict(eps=1e-6),
          # The paper's BERT settings but for lr, which is the reference's; its decay is in the direction.
          paper_defaults=dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.),
          default_reference=LAMBReference, learns=dict(kwargs=dict(lr=0.1), steps=100, factor=10)),
    # Prodigy needs one lr in every group; the second has its own eps, d0 and slice_p. Its step
    # count is its groups', so a parameter listed twice is not followed.
    Entry(labml_opt.Prodigy, lambda flags: prodigyopt.Prodigy, dict(lr=1.0), dict(lr=1.0, eps=1e-6, d0=1e-5, slice_p=2),
          flags(decouple=[True, False], use_bias_correction=[False, True])
          + [dict(betas=(0.0, 0.99)), dict(safeguard_warmup=True, growth_rate=1.05)],
          decays=('float',), per_parameter_schedule=True, tiny=dict(eps=1e-6),
          paper_defaults=package_defaults(prodigyopt.Prodigy, 'lr', 'betas', 'beta3', 'eps', 'weight_decay', 'decouple',
                                          'use_bias_correction', 'safeguard_warmup', 'd0', 'd_coef', 'growth_rate',
                                          'slice_p'),
          default_reference=prodigyopt.Prodigy,
          bad=[(dict(lr=-1e-3), 'lr -0.001', '> 0'), (dict(lr=float('nan')), 'lr nan', '> 0'),
               (dict(eps=-1e-8), 'eps -1e-08', '> 0'), (dict(eps=float('nan')), 'eps nan', '> 0'),
               (dict(d0=0.), 'd0 0.0', '> 0'), (dict(d_coef=-1.), 'd_coef -1.0', '> 0'),
               (dict(beta3=1.5), 'beta3 1.5', 'None or in [0, 1]'), (dict(growth_rate=0.5), 'growth_rate 0.5', '>= 1'),
               (dict(slice_p=0), 'slice_p 0', 'an integer >= 1'),
               (dict(fsdp_in_use=True), 'fsdp_in_use True', 'False (its all-reduce needs a GPU)')],
          learns=dict(kwargs=dict(), steps=100, factor=10)),
    # SOAP counts its steps per group; its first step only builds the bases.
    Entry(labml_opt.SOAP, lambda flags: pytorch_optimizer.SOAP, dict(lr=1e-2),
          dict(lr=3e-3, betas=(0.9, 0.99), precondition_frequency=4),
          [dict(), dict(precondition_frequency=3), dict(precondition_1d=True, max_precondition_dim=5),
           dict(normalize_gradient=True, shampoo_beta=0.8), dict(correct_bias=False), dict(maximize=True)],
          decays=('float',), per_parameter_schedule=True, tiny=dict(eps=1e-6),
          paper_defaults=package_defaults(pytorch_optimizer.SOAP, 'lr', 'betas', 'shampoo_beta', 'weight_decay',
                                          'precondition_frequency', 'max_precondition_dim', 'merge_dims',
                                          'precondition_1d', 'correct_bias', 'normalize_gradient', 'eps'),
          default_reference=pytorch_optimizer.SOAP,
          bad=[(dict(shampoo_beta=1.5), 'shampoo_beta 1.5', 'None or in [0, 1]'),
               (dict(precondition_frequency=0), 'precondition_frequency 0', 'an integer >= 1'),
               (dict(max_precondition_dim=0), 'max_precondition_dim 0', 'an integer >= 1'),
               (dict(data_format='nchw'), "data_format 'nchw'", "'channels_first' or 'channels_last'")],
          learns=dict(kwargs=dict(lr=0.1), steps=100, factor=10)),
]
ENTRIES = {entry.name: entry for entry in TABLE}


def entries(predicate=lambda entry: True):
    return [pytest.param(entry, id=entry.name) for entry in TABLE if predicate(entry)]


def dense(entry: Entry) -> bool:
    """Whether the optimizer takes dense gradients in `param.grad` and steps without a closure."""
    return entry.step_with == 'dense'


def accepts(cls, name):
    return name in inspect.signature(cls.__init__).parameters


def decay_setting(entry: Entry, decay: str, first: Dict[str, Any], second: Dict[str, Any]):
    r"""
    Ours and the reference's `weight_decay`, and the reference's class maker, for one decay rule.
    Coefficients are per group; decoupled ones are scaled by $1 / \alpha$ so that every rule shrinks
    by about 0.1 % per step.
    """
    kind = entry.float_decay if decay == 'float' else decay
    if decay == 'float' and 'decoupled_weight_decay' in first:
        kind = 'decoupled' if first['decoupled_weight_decay'] else 'l2'
    coefficients = dict(l2=(1e-2, 0.1), decoupled=(1e-3 / first['lr'], 3e-3 / second['lr']),
                        absolute=(1e-3, 3e-3))[kind]
    ours = dict(float=coefficients[0], l2=WeightDecay(coefficients[0], weight_decouple=False),
                decoupled=WeightDecay(coefficients[0], weight_decouple=True),
                absolute=WeightDecay(coefficients[0], weight_decouple=True, absolute=True))[decay]

    def wrap(reference):
        if kind == 'decoupled':
            return entry.decoupled_reference(first) or decayed(reference)
        if kind == 'absolute':
            return decayed(reference, absolute=True)
        return reference

    return ours, coefficients, wrap


def pair(entry: Entry, case_flags: Dict[str, Any], decay: Optional[str] = None, kwargs: Dict[str, Any] = None):
    """Ours and the reference's makers and the second group, for flags and a decay rule."""
    first = dict(entry.kwargs, **(kwargs or {}), **case_flags)
    theirs = {key: value for key, value in first.items() if key not in OURS_ONLY | set(entry.ours_only)}
    second = None if entry.second_group is None else dict(entry.second_group)
    # With momentum, a smaller momentum in the second group too.
    if first.get('momentum') and second is not None:
        second['momentum'] = 0.5
    reference = entry.reference(case_flags)
    if decay is not None:
        ours_decay, (first_decay, second_decay), wrap = decay_setting(entry, decay, first, second)
        first['weight_decay'], theirs['weight_decay'], second['weight_decay'] = ours_decay, first_decay, second_decay
        reference = wrap(reference)
    elif accepts(entry.cls, 'weight_decay'):
        first['weight_decay'] = theirs['weight_decay'] = 0.
    return ((lambda groups: entry.make(groups, **first)),
            (lambda groups: training(reference)(entry.groups(groups), **theirs)), second)


def case_id(entry: Entry, case_flags: Dict[str, Any], *more: str) -> str:
    return '-'.join([entry.name] + [f'{key}={value}' for key, value in case_flags.items()] + list(more))


def parity_cases():
    """
    Every flag combination of every entry, in float32 and float64, each with one weight-decay
    rule in turn, so that every rule meets several combinations (the full product would take
    minutes and tell little more: decay acts before, and apart from, the flags).
    """
    for entry in TABLE:
        rules = (None,) + entry.decays
        for i in range(max(len(entry.flags), len(rules))):
            case_flags, decay = entry.flags[i % len(entry.flags)], rules[i % len(rules)]
            for dtype in (torch.float32, torch.float64):
                yield pytest.param(entry, case_flags, decay, dtype,
                                   id=case_id(entry, case_flags, f'decay={decay}', str(dtype)[6:]))


def test_every_exported_optimizer_has_an_entry():
    assert sorted(cls.__name__ for cls in OPTIMIZERS) == sorted(ENTRIES)


@pytest.mark.parametrize('entry, case_flags, decay, dtype', list(parity_cases()))
def test_matches_its_reference_for_every_flag_after_200_steps(entry, case_flags, decay, dtype):
    ours, reference, second = pair(entry, case_flags, decay)
    difference = max_param_difference(ours, reference, dtype=dtype, second_group=second, step_with=entry.step_with,
                                      matrices=entry.matrices)
    assert difference <= TOLERANCE[dtype]


def tiny_cases():
    for entry in TABLE:
        if entry.tiny is not None:
            for case_flags in ([dict(optimized_update=True), dict(optimized_update=False)]
                               if accepts(entry.cls, 'optimized_update') else [{}]):
                yield pytest.param(entry, case_flags, id=case_id(entry, case_flags))


@pytest.mark.parametrize('entry, case_flags', list(tiny_cases()))
def test_matches_its_reference_with_tiny_gradients(entry, case_flags):
    # Gradients of 1e-6 N(0, 1) and no pull towards zero: eps is as large as the gradients, so
    # where it is added, and how the optimized update rescales it, changes every step.
    ours, reference, second = pair(entry, case_flags, kwargs=entry.tiny)
    second['eps'] = 10 * entry.tiny['eps']
    difference = max_param_difference(ours, reference, second_group=second, grad_scale=1e-6, pull=0.,
                                      step_with=entry.step_with, matrices=entry.matrices)
    assert difference <= TOLERANCE[torch.float32]


@pytest.mark.parametrize('entry', entries(lambda entry: not entry.per_parameter_schedule))
def test_a_parameter_without_a_gradient_is_left_alone_as_by_the_reference(entry):
    # Every other step the scalar has no gradient, and the vector has none for the first 50 steps.
    ours, reference, second = pair(entry, entry.flags[0])
    initial = entry.params()
    noise = [[n if i != 1 or step % 2 else None for i, n in enumerate(step_noise)]
             for step, step_noise in enumerate(gradients(initial, 200))]
    for step_noise in noise[:50]:
        step_noise[3] = None
    trained = []
    for make in (ours, reference):
        params = clone_params(initial)
        train(params, make(param_groups(params, second)), noise, step_with=entry.step_with)
        trained.append(params)
    assert max_scaled_difference(*trained) <= TOLERANCE[torch.float32]


@pytest.mark.parametrize('entry', entries(lambda entry: not entry.per_parameter_schedule))
def test_a_parameter_listed_twice_is_stepped_twice_as_by_the_reference(entry):
    # torch warns and steps it twice per step(), with one state; so must we.
    ours, reference, _ = pair(entry, entry.flags[0])
    initial = entry.params()
    trained = []
    for make in (ours, reference):
        params = clone_params(initial)
        with warnings.catch_warnings():
            warnings.filterwarnings('ignore', 'optimizer contains a parameter group with duplicate parameters')
            optimizer = make([{'params': [params[0], params[0], params[3]]}])
        train(params, optimizer, [[torch.full_like(p, 0.3) * (i + 1) for i, p in enumerate(initial)]] * 20,
              step_with=entry.step_with)
        trained.append(params)
    assert max_scaled_difference(*trained) <= TOLERANCE[torch.float32]
    assert not torch.equal(trained[0][0], initial[0])


def required(entry):
    """Arguments an optimizer cannot do without."""
    # AdamWarmupCosineDecay has no default length; it must exceed the default warm-up.
    return dict(total_steps=4000) if accepts(entry.cls, 'total_steps') else {}


# MuonWithAuxAdam has no constructor defaults, but one set per kind of group (test_muon.py)
@pytest.mark.parametrize('entry', entries(lambda entry: entry.torch_cls or entry.torch_defaults
                                          or entry.paper_defaults))
def test_defaults_are_torchs_or_the_papers(entry):
    ours = entry.make([entry.zeros(1)], **required(entry)).defaults
    expected = {}
    torch_defaults = entry.torch_defaults or entry.torch_cls
    if torch_defaults is not None:
        theirs = torch_defaults([entry.zeros(1)]).defaults
        expected.update({name: theirs[name] for name in ours if name in theirs})
    expected.update(entry.paper_defaults)
    assert expected and {name: ours[name] for name in expected} == expected


@pytest.mark.parametrize('entry', entries(lambda entry: entry.torch_cls or entry.default_reference))
def test_steps_with_defaults_as_torch_or_the_paper_does(entry):
    # Also the defaults that are no group key, like AdamW's decoupled decay or AdaBelief's rectify.
    reference = entry.default_reference or entry.torch_cls
    difference = max_param_difference(entry.make, lambda groups: training(reference)(entry.groups(groups)),
                                      step_with=entry.step_with, matrices=entry.matrices,
                                      second_group=None if entry.second_group is None else {})
    assert difference <= TOLERANCE[torch.float32]


def resume_cases():
    for entry in TABLE:
        for case_flags in (entry.flags[0], entry.flags[-1]):
            yield pytest.param(entry, case_flags, id=case_id(entry, case_flags))


@pytest.mark.parametrize('entry, case_flags', list(resume_cases()))
def test_resume_from_a_saved_state_dict_is_bit_identical_to_uninterrupted_training(entry, case_flags):
    ours, _, second = pair(entry, case_flags, decay=entry.decays[0] if entry.decays else None)
    resumed, uninterrupted = resumed_and_uninterrupted(ours, ours, second_group=second, step_with=entry.step_with,
                                                       matrices=entry.matrices)
    assert all(torch.equal(a, b) for a, b in zip(resumed, uninterrupted))


def interop_cases():
    for entry in TABLE:
        if entry.torch_cls is not None:
            for case_flags in entry.interop:
                for direction in ('torch to ours', 'ours to torch'):
                    yield pytest.param(entry, case_flags, direction, id=case_id(entry, case_flags, direction))


@pytest.mark.parametrize('entry, case_flags, direction', list(interop_cases()))
def test_torch_state_dict_loads_into_ours_and_ours_into_torch(entry, case_flags, direction):
    # Half way through, the state moves through a saved state_dict, and training goes on as if
    # the first optimizer had kept going. The second is built with the defaults: the flags
    # (amsgrad, decoupled_weight_decay, momentum, ...) come from the saved groups.
    decay = 'float' if entry.decays else None
    ours, theirs, second = pair(entry, case_flags, decay=decay)
    ours_default, theirs_default, _ = pair(entry, {}, decay=decay)
    first, then = (theirs, ours_default) if direction == 'torch to ours' else (ours, theirs_default)
    resumed, uninterrupted = resumed_and_uninterrupted(first, then, second_group=second, step_with=entry.step_with,
                                                       matrices=entry.matrices)
    assert max_scaled_difference(resumed, uninterrupted) <= TOLERANCE[torch.float32]


# Flags of ours that are group keys without a torch counterpart to carry them: they come back too.
OWN_FLAGS = [(labml_opt.AdaBelief, dict(rectify=False, amsgrad=True, decoupled_weight_decay=False)),
             (labml_opt.RAdam, dict(amsgrad=True, decoupled_weight_decay=True))]


@pytest.mark.parametrize('entry, case_flags', [pytest.param(ENTRIES[cls.__name__], flags, id=cls.__name__)
                                               for cls, flags in OWN_FLAGS])
def test_flags_come_back_from_a_saved_group_into_an_optimizer_built_with_defaults(entry, case_flags):
    ours, _, second = pair(entry, case_flags, decay='float')
    ours_default, _, _ = pair(entry, {}, decay='float')
    resumed, uninterrupted = resumed_and_uninterrupted(ours, ours_default, second_group=second)
    assert all(torch.equal(a, b) for a, b in zip(resumed, uninterrupted))


def test_loading_adam_state_into_adamax_names_both_sides_and_changes_nothing():
    params = clone_params(make_params())
    adam = labml_opt.Adam(params)
    train(params, adam, [[torch.ones_like(p) for p in params]] * 2)
    adamax = labml_opt.Adamax(params)
    before = copy.deepcopy(adamax.state_dict())
    with pytest.raises(ValueError, match=r'Cannot load the state of Adam into Adamax: .*'
                                         r"needs \['exp_avg', 'exp_inf', 'step'\]"):
        adamax.load_state_dict(adam.state_dict())
    assert adamax.state_dict() == before


@pytest.mark.parametrize('saver, loader, decoupled', [
    (torch.optim.AdamW, labml_opt.Adam, True), (labml_opt.AdamW, labml_opt.Adam, True),
    (labml_opt.AdamW, torch.optim.Adam, True), (torch.optim.Adam, labml_opt.AdamW, True),
    (labml_opt.Adam, torch.optim.AdamW, True), (torch.optim.Adam, labml_opt.Adam, False)],
    ids=lambda x: f'{x.__module__.split(".")[0]}.{x.__name__}' if isinstance(x, type) else str(x))
def test_adam_takes_decoupled_decay_from_a_saved_adamw_group_and_adamw_keeps_its_own(saver, loader, decoupled):
    # As torch.optim does: Adam's group key says which decay it applies; AdamW's is always decoupled
    params = clone_params(make_params())
    train(params, saver(params, weight_decay=0.1), [[torch.ones_like(p) for p in params]])
    optimizer = loader(clone_params(make_params()))
    optimizer.load_state_dict(saver(params, weight_decay=0.1).state_dict())
    assert [group['decoupled_weight_decay'] for group in optimizer.param_groups] == [decoupled]


def test_adam_state_loads_into_amsgrad_as_adam_as_in_torch():
    # The saved group says amsgrad=False, and it holds after loading, as in torch.optim.Adam
    params = clone_params(make_params())
    adam = labml_opt.Adam(params)
    train(params, adam, [[torch.ones_like(p) for p in params]] * 2)
    amsgrad = labml_opt.AMSGrad(clone_params(make_params()))
    amsgrad.load_state_dict(adam.state_dict())
    assert [group['amsgrad'] for group in amsgrad.param_groups] == [False]


def test_loading_a_state_dict_for_another_number_of_parameters_is_a_clear_error():
    adam = labml_opt.Adam(clone_params(make_params()))
    other = labml_opt.Adam(clone_params(make_params())[:3])
    with pytest.raises(ValueError, match="loaded state dict contains a parameter group that doesn't match the size "
                                         "of optimizer's group"):
        adam.load_state_dict(other.state_dict())


SCHEDULERS = {
    'LambdaLR': lambda optimizer: torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 / (1 + step / 20)),
    # OneCycleLR also cycles beta1, or SGD's and RMSprop's momentum, where there is one.
    'OneCycleLR': lambda optimizer: torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=[group['lr'] for group in optimizer.param_groups], total_steps=200,
        cycle_momentum='betas' in optimizer.defaults or optimizer.defaults.get('momentum', 0) > 0,
        base_momentum=0.85, max_momentum=0.95),
}


@pytest.mark.parametrize('entry', entries())
@pytest.mark.parametrize('scheduler', sorted(SCHEDULERS))
def test_lr_schedulers_drive_ours_as_they_drive_the_reference(entry, scheduler):
    # A scheduler writes group['lr'] (and betas or momentum); the step must read them, not a copy
    # taken at construction.
    case_flags = dict(entry.flags[0], **(dict(momentum=0.9) if accepts(entry.cls, 'momentum') else {}))
    ours, reference, second = pair(entry, case_flags)
    difference = max_param_difference(ours, reference, second_group=second, make_scheduler=SCHEDULERS[scheduler],
                                      step_with=entry.step_with, matrices=entry.matrices)
    assert difference <= TOLERANCE[torch.float32]


@pytest.mark.parametrize('entry', entries(dense))
def test_step_with_closure_returns_its_loss_and_steps_on_its_gradients(entry):
    ours, reference, _ = pair(entry, entry.flags[0])
    initial = entry.params()
    x = torch.randn(8, 4, generator=torch.Generator().manual_seed(0))
    with_closure, without = clone_params(initial), clone_params(initial)
    optimizer, reference_optimizer = ours([{'params': with_closure}]), reference([{'params': without}])

    def loss(params):
        return (x @ params[0][:4] + params[1]).square().mean() + params[2].square().sum() + params[3].abs().sum()

    def closure():
        optimizer.zero_grad()
        value = loss(with_closure)
        value.backward()
        return value

    for _ in range(5):
        returned = optimizer.step(closure)
        reference_optimizer.zero_grad()
        expected = loss(without)
        expected.backward()
        reference_optimizer.step()
        assert abs(returned.item() - expected.item()) <= 1e-5
    assert max_scaled_difference(with_closure, without) <= TOLERANCE[torch.float32]


@pytest.mark.parametrize('entry', entries())
def test_step_hooks_run_around_every_step(entry):
    params = clone_params(entry.params())
    optimizer = entry.make(params, **entry.learns['kwargs'])
    calls = []
    optimizer.register_step_pre_hook(lambda opt, args, kwargs: calls.append('pre'))
    optimizer.register_step_post_hook(lambda opt, args, kwargs: calls.append('post'))
    train(params, optimizer, [[torch.ones_like(p) for p in params]] * 2, step_with=entry.step_with)
    assert calls == ['pre', 'post', 'pre', 'post']


# L-BFGS takes complex parameters, as torch's does (test_lbfgs.py); Muon and Adafactor refuse them
@pytest.mark.parametrize('entry', entries(lambda entry: not entry.cls.supports_complex))
def test_complex_parameters_are_rejected_clearly(entry):
    # As torch does: at the step, with a RuntimeError
    param = entry.zeros(3, dtype=torch.complex64)
    optimizer = entry.make([param], **entry.learns['kwargs'])
    param.grad = torch.ones_like(param)
    with pytest.raises(RuntimeError, match=f'{entry.name} does not support complex parameters'):
        optimizer.step()


@pytest.mark.parametrize('entry', entries(lambda entry: dense(entry) and entry.cls.supports_complex))
def test_complex_parameters_step_as_their_real_views(entry):
    # As in torch.optim: a complex number is two real ones, whatever the algorithm
    generator = torch.Generator().manual_seed(0)
    complex_params = [torch.randn(4, 3, dtype=torch.complex64, generator=generator).requires_grad_(),
                      torch.randn(5, dtype=torch.complex128, generator=generator).requires_grad_(),
                      torch.randn(3, generator=generator).requires_grad_()]
    real_params = [(torch.view_as_real(p) if p.is_complex() else p).detach().clone().requires_grad_()
                   for p in complex_params]
    optimizers = [training(entry.cls)(params, **entry.learns['kwargs']) for params in (complex_params, real_params)]
    for _ in range(10):
        grads = [torch.randn(p.shape, generator=generator, dtype=p.dtype) for p in real_params]
        for c, r, g in zip(complex_params, real_params, grads):
            c.grad = torch.view_as_complex(g.clone()) if c.is_complex() else g.clone()
            r.grad = g.clone()
        for optimizer in optimizers:
            optimizer.step()
    for c, r in zip(complex_params, real_params):
        assert torch.equal(torch.view_as_real(c) if c.is_complex() else c, r)
        assert c.dtype == r.dtype.to_complex() if c.is_complex() else c.dtype == r.dtype
    # The state stays complex, so that a state_dict moves between ours and torch's
    assert all(value.is_complex() for value in optimizers[0].state[complex_params[0]].values()
               if isinstance(value, torch.Tensor) and value.shape == complex_params[0].shape)


@pytest.mark.parametrize('entry', entries(lambda entry: dense(entry) and not entry.cls.supports_sparse))
def test_sparse_gradients_are_rejected_clearly(entry):
    param = entry.zeros(3)
    optimizer = entry.make([param], **entry.learns['kwargs'])
    param.grad = torch.zeros(param.shape).to_sparse()
    with pytest.raises(RuntimeError, match=f'{entry.name} does not support sparse gradients'):
        optimizer.step()


@pytest.mark.parametrize('entry', entries(lambda entry: entry.cls.supports_sparse))
def test_sparse_gradients_of_an_embedding_step_as_torch_does(entry):
    # nn.Embedding(sparse=True): only the rows a batch touches have a gradient, some twice
    for case_flags in entry.interop:
        results = []
        for make in (entry.cls, entry.torch_cls):
            torch.manual_seed(0)
            embedding = torch.nn.Embedding(10, 3, sparse=True)
            optimizer = make(embedding.parameters(), **dict(entry.learns['kwargs'], **case_flags))
            for step in range(20):
                optimizer.zero_grad()
                rows = torch.tensor([step % 10, (3 * step) % 10, step % 10])
                embedding(rows).square().sum().backward()
                optimizer.step()
            results.append(embedding.weight.detach())
        assert max_scaled_difference(*results) <= TOLERANCE[torch.float32]
        assert not torch.equal(results[0][0], results[0][9]), 'some rows stepped'


@pytest.mark.parametrize('entry', entries(lambda entry: entry.cls.supports_sparse))
@pytest.mark.parametrize('keywords, refusal', [(dict(weight_decay=0.1), 'weight_decay is not compatible with sparse'),
                                               (dict(fused=True), 'fused=True does not support sparse')])
def test_sparse_gradients_refuse_weight_decay_and_fused_as_in_torch(entry, keywords, refusal):
    param = torch.zeros(3, requires_grad=True)
    optimizer = entry.cls([param], **dict(entry.learns['kwargs'], **keywords))
    param.grad = torch.ones(3).to_sparse()
    with pytest.raises(RuntimeError, match=f'{entry.name}: {refusal}'):
        optimizer.step()


# Values every optimizer that takes the argument must refuse: (arguments, shown as, requirement).
COMMON_BAD = [(dict(lr=-1e-3), 'lr -0.001', '>= 0'), (dict(lr=float('nan')), 'lr nan', 'a number, not NaN'),
              (dict(eps=-1e-8), 'eps -1e-08', '>= 0'), (dict(eps=float('nan')), 'eps nan', 'a number, not NaN'),
              (dict(weight_decay=-0.1), 'weight_decay -0.1', '>= 0'),
              (dict(weight_decay=float('nan')), 'weight_decay nan', 'a number, not NaN'),
              (dict(betas=(1.0, 0.999)), 'beta1 1.0', 'in [0, 1)'),
              (dict(betas=(0.9, -0.1)), 'beta2 -0.1', 'in [0, 1)'),
              (dict(betas=(0.9, float('nan'))), 'beta2 nan', 'in [0, 1)'),
              # A tensor hyper-parameter holds one number, and betas are both floats or both tensors, as in torch
              (dict(lr=torch.tensor([1e-3, 1e-3])), re.compile(r'lr tensor\(\[0\.0010, 0\.0010\]\)'),
               'a number or a 1-element tensor'),
              (dict(betas=(0.9, torch.tensor(0.99))), re.compile(r'betas \(0\.9, tensor\(0\.9900\)\)'),
               'both floats or both tensors')]


def bad_cases():
    for entry in TABLE:
        # An entry's own row for a value replaces the common one.
        own = {str(shown) for _, shown, _ in entry.bad}
        for arguments, shown, requirement in [row for row in COMMON_BAD if str(row[1]) not in own] + entry.bad:
            if all(accepts(entry.cls, name) for name in arguments):
                yield pytest.param(entry, arguments, shown, requirement, id=f'{entry.name}-{shown}')


@pytest.mark.parametrize('entry, arguments, shown, requirement', list(bad_cases()))
def test_bad_hyperparameters_raise_a_value_error_naming_optimizer_parameter_and_value(entry, arguments, shown,
                                                                                     requirement):
    shown = shown if isinstance(shown, re.Pattern) else re.compile(re.escape(shown))
    with pytest.raises(ValueError) as error:
        entry.make(clone_params(entry.params()), **{**required(entry), **arguments})
    pattern = f'Invalid {shown.pattern} for {entry.name}: must be {re.escape(requirement)}'
    assert re.fullmatch(pattern, str(error.value)), str(error.value)


@pytest.fixture(scope='module')
def digits():
    from sklearn.datasets import load_digits
    data = load_digits()
    x = torch.tensor(data.data, dtype=torch.float32) / 16.
    return x, torch.tensor(data.target)


# SparseAdam learns an embedding in test_sparse_adam.py
@pytest.mark.parametrize('entry', entries(lambda entry: entry.step_with != 'sparse'))
def test_optimizer_cuts_logistic_regression_loss_on_digits(entry, digits):
    x, y = digits
    torch.manual_seed(0)
    # An optimizer of matrices trains the weights only
    model = torch.nn.Linear(64, 10, bias=not entry.matrices)
    optimizer = entry.make(model.parameters(), **entry.learns['kwargs'])

    def loss():
        return torch.nn.functional.cross_entropy(model(x), y)

    with torch.no_grad():
        initial = loss().item()
    def closure():
        optimizer.zero_grad()
        value = loss()
        value.backward()
        return value

    for _ in range(entry.learns['steps']):
        optimizer.step(closure)
    with torch.no_grad():
        final = loss().item()
    assert final < initial / entry.learns['factor']


@pytest.mark.parametrize('entry', entries())
def test_deep_copy_keeps_settings_and_trains_identically(entry):
    params = clone_params(entry.params())
    optimizer = entry.make(params, **entry.learns['kwargs'])
    noise = [[torch.full_like(p, 0.1 * (step - 3)) for p in params] for step in range(10)]
    train(params, optimizer, noise[:5], step_with=entry.step_with)
    # Copied together, the optimizer copy points at the copied parameters.
    twin, twin_optimizer = copy.deepcopy((params, optimizer))
    settings_of = lambda o: {k: v for k, v in vars(o).items() if not k.startswith('_') and not isinstance(v, dict)}
    assert settings_of(twin_optimizer).keys() == settings_of(optimizer).keys()
    train(params, optimizer, noise[5:], step_with=entry.step_with)
    train(twin, twin_optimizer, noise[5:], step_with=entry.step_with)
    assert all(torch.equal(a, b) for a, b in zip(params, twin))


IMPLEMENTATION = {'foreach', 'fused', 'capturable', 'differentiable'}


@pytest.mark.parametrize('entry', entries(lambda entry: isinstance(entry.torch_cls, type)
                                          and entry.torch_cls.__name__ == entry.name))
def test_takes_every_keyword_of_its_torch_class(entry):
    # Switching is a change of import: `torch.optim.AdamW(params, fused=True)` must not be a TypeError.
    ours = inspect.signature(entry.cls.__init__).parameters
    forwards = any(parameter.kind == parameter.VAR_KEYWORD for parameter in ours.values())
    theirs = [name for name in inspect.signature(entry.torch_cls.__init__).parameters if name not in ('self', 'params')]
    missing = [name for name in theirs
               if name not in ours and not (forwards and name in IMPLEMENTATION)]
    assert not missing
    defaults = {name: parameter.default for name, parameter in
                inspect.signature(entry.torch_cls.__init__).parameters.items() if name in IMPLEMENTATION}
    entry.make([entry.zeros(2)], **required(entry), **defaults)


# torch's LBFGS, SparseAdam and Muon take no implementation keywords, and ours neither
@pytest.mark.parametrize('entry', entries(lambda entry: isinstance(entry.torch_cls, type)
                                          and entry.torch_cls.__name__ == entry.name
                                          and accepts(entry.torch_cls, 'foreach')))
def test_fused_compiles_and_foreach_false_runs_as_written(entry):
    from labml_opt import fast
    param = entry.zeros(3)
    param.grad = torch.ones(param.shape)
    group = lambda **keywords: entry.make([param], **required(entry), **keywords).param_groups[0]  # noqa: E731
    if 'fused' in inspect.signature(entry.torch_cls).parameters:
        assert group(fused=True)['fast'] is True
        with pytest.raises(RuntimeError, match='fused and foreach cannot both be True'):
            group(fused=True, foreach=True)
    assert group(foreach=False)['fast'] is False
    # A small group with neither takes the code as written; the size decides
    optimizer = entry.make([param], **required(entry))
    assert fast.compiled_step(optimizer, optimizer.param_groups[0], [param]) is None
