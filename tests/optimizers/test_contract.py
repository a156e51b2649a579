"""
The `torch.optim.Optimizer` contract, checked for every optimizer the package exports: state_dict
round trips, schedulers, closures, step hooks, validation, and real learning on real data.
A newly exported optimizer is picked up here automatically; it must get an entry in `SETTINGS`.
"""

import copy
import inspect
import math

import pytest
import torch

import labml_opt
from labml_opt import GenericAdaptiveOptimizer
from tests.optimizers.resume import saved

OPTIMIZERS = sorted((value for value in vars(labml_opt).values()
                     if isinstance(value, type) and issubclass(value, torch.optim.Optimizer)
                     and value is not GenericAdaptiveOptimizer),
                    key=lambda cls: cls.__name__)

# Per optimizer: constructor arguments for a model of this size, and what it must achieve on
# logistic regression on scikit-learn's digits: `factor` times lower loss within `steps` full-batch steps.
SETTINGS = {
    'Adam': dict(kwargs=dict(lr=3e-2), steps=100, factor=10),
    'AMSGrad': dict(kwargs=dict(lr=3e-2), steps=100, factor=10),
    'AdamW': dict(kwargs=dict(lr=3e-2), steps=100, factor=10),
    # RAdam's rectification keeps its steps small early on (r_t is about 0.2 at step 100).
    'RAdam': dict(kwargs=dict(lr=1e-1), steps=200, factor=10),
    'AdaBelief': dict(kwargs=dict(lr=1e-1), steps=100, factor=10),
    'NAdam': dict(kwargs=dict(lr=3e-2), steps=100, factor=10),
    'Adamax': dict(kwargs=dict(lr=1e-1), steps=100, factor=10),
    'AdamWarmup': dict(kwargs=dict(lr=3e-2, warmup=10), steps=100, factor=10),
    'AdamWarmupCosineDecay': dict(kwargs=dict(lr=3e-2, warmup=10, total_steps=200), steps=100, factor=10),
    'Noam': dict(kwargs=dict(lr=1., warmup=10, d_model=16), steps=100, factor=10),
    # Without `update_hessian` Sophia's curvature estimate stays zero and it takes clipped sign steps;
    # its own tests cover the Hessian path.
    'Sophia': dict(kwargs=dict(lr=3e-2), steps=100, factor=10),
    'SharedAdam': dict(kwargs=dict(lr=3e-2), steps=100, factor=10),
    'SGD': dict(kwargs=dict(lr=0.5, momentum=0.9), steps=100, factor=10),
    'Adagrad': dict(kwargs=dict(lr=0.3), steps=100, factor=10),
    # Adadelta's steps start at about sqrt(eps) in size and grow as its accumulated updates do.
    'Adadelta': dict(kwargs=dict(lr=1.0), steps=300, factor=8),
    'RMSprop': dict(kwargs=dict(lr=3e-2), steps=100, factor=10),
    # Every coordinate moves by exactly lr, so lr is smaller than Adam's.
    'Lion': dict(kwargs=dict(lr=1e-2), steps=100, factor=10),
    'AdEMAMix': dict(kwargs=dict(lr=3e-2), steps=100, factor=10),
    # Schedule-Free SGD's good learning rates are large (its reference's default is 1); at 0.5 it
    # cuts the loss only 4.5 times in 100 steps.
    'ScheduleFreeSGD': dict(kwargs=dict(lr=5.0), steps=100, factor=10),
    'ScheduleFreeAdamW': dict(kwargs=dict(lr=3e-2), steps=100, factor=10),
    'ScheduleFreeAdamWPaper': dict(kwargs=dict(lr=3e-2), steps=100, factor=10),
}


def settings(cls):
    assert cls.__name__ in SETTINGS, f'{cls.__name__} is exported but has no SETTINGS entry in this test'
    return SETTINGS[cls.__name__]


def make(cls, params, **overrides):
    optimizer = cls(params, **{**settings(cls)['kwargs'], **overrides})
    # Schedule-Free optimizers start in eval mode and step only in train mode, as their reference does.
    if hasattr(optimizer, 'train'):
        optimizer.train()
    return optimizer


def accepts(cls, name):
    return name in inspect.signature(cls.__init__).parameters


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1))


def train(model, optimizer, steps, seed=1):
    """Deterministic batches from `seed`; the same seed gives the same data stream."""
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x = torch.randn(8, 4, generator=generator)
        y = torch.randn(8, 1, generator=generator)
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()


def test_every_exported_optimizer_is_covered():
    assert {cls.__name__ for cls in OPTIMIZERS} == set(SETTINGS)


@pytest.mark.parametrize('cls', OPTIMIZERS, ids=lambda cls: cls.__name__)
def test_state_dict_round_trip_is_bit_identical_to_uninterrupted_training(cls):
    model = tiny_model()
    uninterrupted = make(cls, model.parameters())
    reference = copy.deepcopy(model)
    reference_optimizer = make(cls, reference.parameters())
    train(reference, reference_optimizer, 50, seed=1)
    train(reference, reference_optimizer, 50, seed=2)

    train(model, uninterrupted, 50, seed=1)
    checkpoint = saved({'model': model.state_dict(), 'optimizer': uninterrupted.state_dict()})
    resumed = tiny_model(seed=123)
    resumed.load_state_dict(checkpoint['model'])
    optimizer = make(cls, resumed.parameters())
    optimizer.load_state_dict(checkpoint['optimizer'])
    train(resumed, optimizer, 50, seed=2)

    for a, b in zip(resumed.parameters(), reference.parameters()):
        assert torch.equal(a, b)


def test_torch_adam_state_dict_loads_into_ours_and_back():
    model, twin = tiny_model(), tiny_model()
    theirs = torch.optim.Adam(model.parameters(), lr=1e-2)
    train(model, theirs, 20)
    ours = labml_opt.Adam(twin.parameters(), lr=1e-2)
    twin.load_state_dict(model.state_dict())
    ours.load_state_dict(saved(theirs.state_dict()))
    train(model, theirs, 20, seed=2)
    train(twin, ours, 20, seed=2)
    for a, b in zip(model.parameters(), twin.parameters()):
        assert (a - b).abs().max() <= 1e-6

    back = torch.optim.Adam(model.parameters(), lr=1e-2)
    back.load_state_dict(saved(ours.state_dict()))
    model.load_state_dict(twin.state_dict())
    train(model, back, 20, seed=3)
    train(twin, ours, 20, seed=3)
    for a, b in zip(model.parameters(), twin.parameters()):
        assert (a - b).abs().max() <= 1e-6


def test_loading_adam_state_into_amsgrad_names_both_sides():
    amsgrad_cls = getattr(labml_opt, 'AMSGrad', None)
    if amsgrad_cls is None:
        pytest.fail('labml_opt.AMSGrad is missing')
    model = tiny_model()
    adam = labml_opt.Adam(model.parameters())
    train(model, adam, 2)
    amsgrad = amsgrad_cls(model.parameters())
    before = copy.deepcopy(amsgrad.state_dict())
    with pytest.raises(ValueError, match=r'Cannot load the state of Adam into AMSGrad.*max_exp_avg_sq'):
        amsgrad.load_state_dict(adam.state_dict())
    assert amsgrad.state_dict() == before


def test_loading_a_state_dict_of_another_shape_is_a_clear_error():
    adam = labml_opt.Adam(tiny_model().parameters())
    other = labml_opt.Adam(torch.nn.Linear(2, 2).parameters())
    with pytest.raises(ValueError):
        adam.load_state_dict(other.state_dict())


@pytest.mark.parametrize('cls', OPTIMIZERS, ids=lambda cls: cls.__name__)
def test_lambda_lr_scales_the_learning_rate_every_step(cls):
    model = tiny_model()
    optimizer = make(cls, model.parameters())
    base_lr = optimizer.param_groups[0]['lr']
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5 ** step)
    for step in range(1, 4):
        train(model, optimizer, 1, seed=step)
        scheduler.step()
        assert optimizer.param_groups[0]['lr'] == pytest.approx(base_lr * 0.5 ** step)


def test_lr_from_lambda_lr_is_the_lr_adam_applies():
    # A scheduler only writes group['lr']; the step must read it, not a copy taken at construction.
    model, twin = tiny_model(), tiny_model()
    scheduled = labml_opt.Adam(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.LambdaLR(scheduled, lambda step: 1 / (step + 1))
    manual = labml_opt.Adam(twin.parameters(), lr=1e-2)
    for step in range(5):
        manual.param_groups[0]['lr'] = 1e-2 / (step + 1)
        train(model, scheduled, 1, seed=step)
        train(twin, manual, 1, seed=step)
        scheduler.step()
    for a, b in zip(model.parameters(), twin.parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize('cls', [cls for cls in OPTIMIZERS if accepts(cls, 'betas')], ids=lambda cls: cls.__name__)
def test_one_cycle_lr_cycles_lr_and_beta1(cls):
    model = tiny_model()
    optimizer = make(cls, model.parameters())
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-2, total_steps=10,
                                                    base_momentum=0.85, max_momentum=0.95)
    seen = []
    for step in range(10):
        train(model, optimizer, 1, seed=step)
        seen.append((optimizer.param_groups[0]['lr'], optimizer.param_groups[0]['betas'][0]))
        scheduler.step()
    lrs, beta1s = zip(*seen)
    assert max(lrs) == pytest.approx(1e-2) and min(beta1s) == pytest.approx(0.85)
    assert all(math.isfinite(p.sum().item()) for p in model.parameters())


def test_one_cycle_betas_cycling_matches_torch_adam():
    model, twin = tiny_model(), tiny_model()
    optimizers = [labml_opt.Adam(model.parameters()), torch.optim.Adam(twin.parameters())]
    schedulers = [torch.optim.lr_scheduler.OneCycleLR(o, max_lr=1e-2, total_steps=30) for o in optimizers]
    for step in range(30):
        for m, o, s in zip((model, twin), optimizers, schedulers):
            train(m, o, 1, seed=step)
            s.step()
    for a, b in zip(model.parameters(), twin.parameters()):
        assert (a - b).abs().max() <= 1e-6


@pytest.mark.parametrize('cls', OPTIMIZERS, ids=lambda cls: cls.__name__)
def test_step_with_closure_returns_the_loss_and_uses_its_gradients(cls):
    model, twin = tiny_model(), tiny_model()
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    with_closure, without = make(cls, model.parameters()), make(cls, twin.parameters())

    def closure():
        with_closure.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        return loss

    for _ in range(3):
        loss = with_closure.step(closure)
        without.zero_grad()
        expected = torch.nn.functional.mse_loss(twin(x), y)
        expected.backward()
        without.step()
        assert torch.equal(loss, expected)
    for a, b in zip(model.parameters(), twin.parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize('cls', OPTIMIZERS, ids=lambda cls: cls.__name__)
def test_step_hooks_run_around_every_step(cls):
    model = tiny_model()
    optimizer = make(cls, model.parameters())
    calls = []
    optimizer.register_step_pre_hook(lambda opt, args, kwargs: calls.append('pre'))
    optimizer.register_step_post_hook(lambda opt, args, kwargs: calls.append('post'))
    train(model, optimizer, 2)
    assert calls == ['pre', 'post', 'pre', 'post']


@pytest.mark.parametrize('cls', OPTIMIZERS, ids=lambda cls: cls.__name__)
def test_complex_parameters_are_rejected_clearly(cls):
    with pytest.raises(ValueError, match=f'{cls.__name__} does not support complex parameters'):
        make(cls, [torch.zeros(3, dtype=torch.complex64, requires_grad=True)])


@pytest.mark.parametrize('cls', OPTIMIZERS, ids=lambda cls: cls.__name__)
def test_sparse_gradients_are_rejected_clearly(cls):
    param = torch.zeros(3, requires_grad=True)
    optimizer = make(cls, [param])
    param.grad = torch.zeros(3).to_sparse()
    with pytest.raises(RuntimeError, match=f'{cls.__name__} does not support sparse gradients'):
        optimizer.step()


def bad_values(cls):
    """The hyper-parameter values every optimizer that takes them must refuse."""
    cases = [('lr', -1e-3), ('lr', float('nan')), ('eps', -1e-8), ('eps', float('nan')),
             ('weight_decay', -0.1), ('weight_decay', float('nan')),
             ('betas', (1.0, 0.999)), ('betas', (0.9, -0.1)), ('betas', (0.9, float('nan'))),
             ('warmup', -1)]
    return [(cls, name, value) for name, value in cases if accepts(cls, name)]


@pytest.mark.parametrize('cls, name, value', [case for cls in OPTIMIZERS for case in bad_values(cls)],
                         ids=lambda item: getattr(item, '__name__', repr(item)))
def test_bad_hyperparameters_raise_value_error_naming_optimizer_parameter_and_value(cls, name, value):
    with pytest.raises(ValueError) as error:
        make(cls, tiny_model().parameters(), **{name: value})
    message = str(error.value)
    assert cls.__name__ in message
    # For betas the message names the offending beta; either way the bad number appears.
    assert name.rstrip('s') in message
    bad_number = value[0] if name == 'betas' and value[0] >= 1 else value[-1] if name == 'betas' else value
    assert repr(bad_number) in message or repr(float(bad_number)) in message


@pytest.fixture(scope='module')
def digits():
    from sklearn.datasets import load_digits
    data = load_digits()
    x = torch.tensor(data.data, dtype=torch.float32) / 16.
    return x, torch.tensor(data.target)


@pytest.mark.parametrize('cls', OPTIMIZERS, ids=lambda cls: cls.__name__)
def test_optimizer_cuts_logistic_regression_loss_on_digits(cls, digits):
    x, y = digits
    torch.manual_seed(0)
    model = torch.nn.Linear(64, 10)
    optimizer = make(cls, model.parameters())

    def loss():
        return torch.nn.functional.cross_entropy(model(x), y)

    with torch.no_grad():
        initial = loss().item()
    for _ in range(settings(cls)['steps']):
        optimizer.zero_grad()
        loss().backward()
        optimizer.step()
    with torch.no_grad():
        final = loss().item()
    assert final < initial / settings(cls)['factor']


@pytest.mark.parametrize('cls', OPTIMIZERS, ids=lambda cls: cls.__name__)
def test_deep_copy_keeps_settings_and_trains_identically(cls):
    model = tiny_model()
    optimizer = make(cls, model.parameters())
    train(model, optimizer, 5)
    # Copied together, the optimizer copy points at the copied parameters.
    twin, twin_optimizer = copy.deepcopy((model, optimizer))
    settings_of = lambda o: {k for k in vars(o) if not k.startswith('_')}
    assert settings_of(twin_optimizer) == settings_of(optimizer)
    train(model, optimizer, 5, seed=2)
    train(twin, twin_optimizer, 5, seed=2)
    for a, b in zip(model.parameters(), twin.parameters()):
        assert torch.equal(a, b)
