"""
SOAP against `pytorch_optimizer.SOAP` (PyPI `pytorch-optimizer`) with every option, and the page's
central claim: with its bases fixed, SOAP is `torch.optim.Adam` run in the eigenbasis of
Shampoo's preconditioner, built here explicitly.
"""

import warnings

import pytest
import pytorch_optimizer
import torch

from labml_opt import SOAP, fast
from tests.optimizers.parity import (clone_params, gradients, make_params, max_param_difference,
                                     max_scaled_difference, train)
from tests.optimizers.references import arguments

# The page's bound in float32, for eigenvectors of close eigenvalues; float64's is the usual one.
TOLERANCE = {torch.float32: 1e-5, torch.float64: 1e-12}
SECOND_GROUP = dict(lr=3e-3, betas=(0.9, 0.99), precondition_frequency=4, weight_decay=0.1)


def test_soap_has_the_reference_arguments_and_defaults():
    assert arguments(SOAP) == arguments(pytorch_optimizer.SOAP)


OPTIONS = {
    'defaults': dict(),
    'no_decay': dict(weight_decay=0.),
    # A refresh of the bases every third step, and a power iteration each time
    'refresh_often': dict(precondition_frequency=3),
    # Dimensions longer than 5 get no basis
    'max_precondition_dim': dict(max_precondition_dim=5),
    'precondition_1d': dict(precondition_1d=True),
    'no_bias_correction': dict(correct_bias=False),
    'normalize_gradient': dict(normalize_gradient=True),
    'shampoo_beta': dict(shampoo_beta=0.8),
    'maximize': dict(maximize=True),
    'betas_eps': dict(betas=(0.9, 0.99), eps=1e-6),
}


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('options', OPTIONS.values(), ids=OPTIONS.keys())
def test_soap_matches_pytorch_optimizer_after_200_steps(dtype, options):
    kwargs = dict(lr=1e-2, **options)
    difference = max_param_difference(lambda groups: SOAP(groups, **kwargs),
                                      lambda groups: pytorch_optimizer.SOAP(groups, **kwargs),
                                      dtype=dtype, second_group=SECOND_GROUP)
    assert difference <= TOLERANCE[dtype]


def convolutions(dtype):
    """Kernels (out, in, k, k) and (out, k, k, in), and a matrix with a leading dimension of one."""
    generator = torch.Generator().manual_seed(0)
    return [torch.randn(shape, generator=generator, dtype=dtype) for shape in [(4, 3, 2, 2), (6, 2, 2, 3), (1, 2, 9)]]


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('data_format', ['channels_first', 'channels_last'])
@pytest.mark.parametrize('max_precondition_dim', [16, 8])
def test_merged_dimensions_match_pytorch_optimizer(dtype, data_format, max_precondition_dim):
    # The reference's merge_dims fails on vectors and on tensors that merge into one dimension,
    # so these shapes merge into two or more.
    initial = convolutions(dtype)
    noise = list(gradients(initial, 100))
    kwargs = dict(lr=1e-2, merge_dims=True, data_format=data_format, max_precondition_dim=max_precondition_dim,
                  precondition_frequency=5)
    trained = []
    for cls in (SOAP, pytorch_optimizer.SOAP):
        params = clone_params(initial)
        train(params, cls([{'params': params[:2]}, {'params': params[2:], 'lr': 3e-3}], **kwargs), noise,
              change_lr_at=50)
        trained.append(params)
    assert max_scaled_difference(*trained) <= TOLERANCE[dtype]


def test_merged_dimensions_of_tensors_the_reference_cannot_merge():
    # A matrix whose dimensions merge into one, and a vector: the reference fails; we precondition
    # the matrix as one vector of 15 and leave the vector as it is.
    params = [torch.randn(5, 3, requires_grad=True), torch.randn(7, requires_grad=True)]
    optimizer = SOAP(params, merge_dims=True)
    for _ in range(3):
        for p in params:
            p.grad = torch.randn_like(p)
        optimizer.step()
    assert [None if g is None else tuple(g.shape) for g in optimizer.state[params[0]]['GG']] == [(15, 15)]
    assert optimizer.state[params[1]]['GG'] == [None]


def test_the_first_step_only_builds_the_bases():
    param = torch.randn(4, 3, requires_grad=True)
    before = param.detach().clone()
    optimizer = SOAP([param], weight_decay=0.1)
    param.grad = torch.randn(4, 3)
    optimizer.step()
    assert torch.equal(param.detach(), before)
    state = optimizer.state[param]
    assert [tuple(q.shape) for q in state['Q']] == [(4, 4), (3, 3)]
    assert not state['exp_avg'].any() and not state['exp_avg_sq'].any()


@pytest.mark.parametrize('shapes', [[(6, 6), (4, 4)], [(5, 5), (7,)]], ids=['matrices', 'with_a_vector'])
def test_with_fixed_bases_soap_is_adam_in_the_eigenbasis_of_shampoos_preconditioner(shapes):
    # Shampoo's statistics after the first gradient G_1 are L = (1 - beta_s) G_1 G_1^T and
    # R = (1 - beta_s) G_1^T G_1; square matrices make both full rank, so their eigenvectors are
    # defined up to sign, which SOAP's step does not see. With the bases never refreshed, SOAP's
    # steps 2, 3, ... are torch.optim.Adam's steps 1, 2, ... on W' = Q_L^T W Q_R, with gradients
    # Q_L^T G Q_R. A vector has no basis: for it SOAP is Adam.
    dtype, steps, beta_s = torch.float64, 60, 0.9
    generator = torch.Generator().manual_seed(0)
    initial = [torch.randn(shape, generator=generator, dtype=dtype) for shape in shapes]
    noise = [[torch.randn(shape, generator=generator, dtype=dtype) for shape in shapes] for _ in range(steps + 1)]

    def gradient(weights, step):
        return [n + 0.1 * w for n, w in zip(noise[step], weights)]

    params = [w.clone().requires_grad_() for w in initial]
    soap = SOAP(params, lr=1e-2, betas=(0.9, 0.99), shampoo_beta=beta_s, weight_decay=0., eps=1e-30,
                precondition_frequency=10 ** 6)
    for step in range(steps + 1):
        for p, g in zip(params, gradient([p.detach() for p in params], step)):
            p.grad = g
        soap.step()

    # The eigenbases, built from the first gradient with nothing of SOAP's
    first = gradient(initial, 0)
    bases = []
    for g in first:
        if g.dim() == 1:
            bases.append(None)
            continue
        left = torch.linalg.eigh((1 - beta_s) * g @ g.T).eigenvectors
        right = torch.linalg.eigh((1 - beta_s) * g.T @ g).eigenvectors
        bases.append((left, right))

    def rotate(x, basis):
        return x if basis is None else basis[0].T @ x @ basis[1]

    def unrotate(x, basis):
        return x if basis is None else basis[0] @ x @ basis[1].T

    rotated = [rotate(w, basis).clone().requires_grad_() for w, basis in zip(initial, bases)]
    adam = torch.optim.Adam(rotated, lr=1e-2, betas=(0.9, 0.99), eps=1e-30)
    for step in range(1, steps + 1):
        weights = [unrotate(w.detach(), basis) for w, basis in zip(rotated, bases)]
        for w, g, basis in zip(rotated, gradient(weights, step), bases):
            w.grad = rotate(g, basis)
        adam.step()

    adam_weights = [unrotate(w.detach(), basis) for w, basis in zip(rotated, bases)]
    assert max((a - b.detach()).abs().max().item() for a, b in zip(adam_weights, params)) <= 1e-10
    # ... and the rotation matters: Adam in the parameters' own coordinates ends elsewhere
    plain = [w.clone().requires_grad_() for w in initial]
    plain_adam = torch.optim.Adam(plain, lr=1e-2, betas=(0.9, 0.99), eps=1e-30)
    for step in range(1, steps + 1):
        for w, g in zip(plain, gradient([w.detach() for w in plain], step)):
            w.grad = g
        plain_adam.step()
    assert max((a - b.detach()).abs().max().item() for a, b in zip(plain, params[:1])) > 1e-3


def test_a_large_group_runs_as_written_and_the_fast_path_is_refused():
    # SOAP's step multiplies matrices: a group of 4M elements runs it as written, with no
    # warning, and a group may not ask for the fast path.
    generator = torch.Generator().manual_seed(0)
    params = [torch.randn(16384, 256, generator=generator).requires_grad_(), torch.randn(256, generator=generator)]
    params[1].requires_grad_()
    assert sum(p.numel() for p in params) >= fast.MIN_NUMEL
    optimizer = SOAP(params, max_precondition_dim=1024)
    with warnings.catch_warnings():
        warnings.simplefilter('error', fast.FastPathWarning)
        for _ in range(3):
            for p in params:
                p.grad = torch.randn(p.shape, generator=generator)
            optimizer.step()
    assert not optimizer.__dict__.get('_compiled_steps')
    assert [None if g is None else tuple(g.shape) for g in optimizer.state[params[0]]['GG']] == [None, (256, 256)]
    with pytest.raises(ValueError, match='Invalid fast True for SOAP: must be False'):
        SOAP([{'params': [torch.zeros(2, 2, requires_grad=True)], 'fast': True}])


def test_the_state_of_a_square_matrix_is_24_bytes_per_parameter():
    # m and v, and L, R, Q_L, Q_R of 64 x 64 each: 2 + 4 = 6 float32 numbers per parameter
    param = torch.randn(64, 64, requires_grad=True)
    optimizer = SOAP([param])
    for _ in range(2):
        param.grad = torch.randn(64, 64)
        optimizer.step()
    state = optimizer.state[param]
    tensors = [state['exp_avg'], state['exp_avg_sq'], *state['GG'], *state['Q']]
    assert sum(t.numel() * t.element_size() for t in tensors) == 24 * param.numel()


@pytest.mark.parametrize('name, value, message', [
    ('shampoo_beta', 1.5, 'Invalid shampoo_beta 1.5 for SOAP: must be None or in'),
    ('precondition_frequency', 0, 'Invalid precondition_frequency 0 for SOAP: must be an integer >= 1'),
    ('max_precondition_dim', 2.5, 'Invalid max_precondition_dim 2.5 for SOAP: must be an integer >= 1'),
    ('data_format', 'nchw', "Invalid data_format 'nchw' for SOAP"),
])
def test_bad_values_are_refused_by_name(name, value, message):
    with pytest.raises(ValueError, match=message):
        SOAP([torch.zeros(1, requires_grad=True)], **{name: value})
