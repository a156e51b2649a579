r"""
Adafactor against `torch.optim.Adafactor`, to the tolerance of the other optimizers' parity tests
(its page computes $\hat{V}_t^{-1/2}$ from the roots of $R_t$ and $C_t$, where torch takes a root
of each $\hat{V}_{t,ij}$: the same numbers, rounded differently), and against the paper's algorithm
written out in `references.py`; and the page's central claim: an $n \times m$ matrix keeps $n + m$ numbers
of second moment, not $n m$. (The contract table in test_contract.py runs the rest of torch's
contract.)
"""

import inspect

import pytest
import torch

from labml_opt import Adafactor, Adam, adafactor
from tests.optimizers.parity import TOLERANCE, clone_params, max_param_difference, max_scaled_difference, train
from tests.optimizers.references import AdafactorPaperReference

SECOND_GROUP = dict(lr=3e-3, d=1.5, eps=(1e-20, 1e-2))


def test_adafactor_has_torchs_arguments_and_defaults():
    def arguments(cls):
        return [(name, p.kind, p.default) for name, p in inspect.signature(cls).parameters.items()]

    assert arguments(Adafactor) == arguments(torch.optim.Adafactor)


OPTIONS = {
    'defaults': dict(),
    'decay_and_maximize': dict(weight_decay=0.1, maximize=True),
    'beta2_decay_and_eps1': dict(beta2_decay=-1.0, eps=(1e-30, 1e-3)),
    'clipping_threshold': dict(d=1.5, lr=0.1),
}


# Bands of rows of 8 elements: the test's matrices of 3 to 4 columns, and its stacks, take 2 to 6
# bands each, as a large matrix does with bands of `BAND`
BANDS = {'one_band': None, 'bands_of_rows': 8}


@pytest.fixture(params=BANDS.values(), ids=BANDS.keys())
def band(request, monkeypatch):
    if request.param is not None:
        monkeypatch.setattr(adafactor, 'BAND', request.param)
    return request.param


@pytest.mark.parametrize('grad_scale', [1., 1e-5])
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('options', OPTIONS.values(), ids=OPTIONS.keys())
def test_adafactor_matches_torch_after_200_steps(dtype, options, grad_scale, band):
    # Also with gradients small enough for the floor under mean(R) to bind
    difference = max_param_difference(lambda groups: Adafactor(groups, **options),
                                      lambda groups: torch.optim.Adafactor(groups, **options),
                                      dtype=dtype, second_group=SECOND_GROUP, grad_scale=grad_scale)
    assert difference <= TOLERANCE[dtype]


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_rows_and_columns_where_the_floor_under_the_root_binds_step_as_torchs(dtype, band):
    # Rows of tiny gradients (V-hat below eps1^2: U = g / eps1), rows and a column of zeros (V-hat
    # = 0, whose root is infinite on this page's way and eps1 on torch's), among rows of size 1
    tiny = 1e-12 if dtype == torch.float32 else 1e-20
    generator = torch.Generator().manual_seed(0)
    initial = [torch.randn(shape, generator=generator, dtype=dtype) for shape in ((8, 6), (2, 5, 4))]
    row_scales = [torch.tensor([1., tiny, 0., 1., tiny, 1., 0., 1.], dtype=dtype).view(8, 1),
                  torch.tensor([1., 0., tiny, 1., 1.], dtype=dtype).view(5, 1)]
    noise = []
    for _ in range(100):
        grads = [torch.randn(p.shape, generator=generator, dtype=dtype) * scales
                 for p, scales in zip(initial, row_scales)]
        grads[0][:, 3] = 0.
        noise.append(grads)
    trained = []
    for cls in (Adafactor, torch.optim.Adafactor):
        params = clone_params(initial)
        train(params, cls(params, weight_decay=0.1), noise, pull=0.)
        trained.append(params)
    assert all(torch.isfinite(p).all() for p in trained[0])
    assert max_scaled_difference(*trained) <= TOLERANCE[dtype]


def test_a_stack_of_matrices_is_factored_over_its_last_two_dimensions_as_by_torch(band):
    generator = torch.Generator().manual_seed(0)
    initial = [torch.randn(3, 5, 4, generator=generator), torch.randn(2, 1, 6, 3, generator=generator)]
    noise = [[torch.randn(p.shape, generator=generator) for p in initial] for _ in range(50)]
    trained = []
    for cls in (Adafactor, torch.optim.Adafactor):
        params = clone_params(initial)
        train(params, cls(params, weight_decay=0.1), noise)
        trained.append(params)
    assert max_scaled_difference(*trained) <= TOLERANCE[torch.float32]


@pytest.mark.parametrize('band_size, rows', [(8, 1), (12, 2), (42, 7), (None, 7)])
def test_bands_cover_every_row_once_in_order(band_size, rows, monkeypatch):
    # A row of this stack of two 7 x 3 matrices is 6 elements, 3 in each matrix
    if band_size is not None:
        monkeypatch.setattr(adafactor, 'BAND', band_size)
    grad = torch.arange(7.).view(1, 7, 1).expand(2, 7, 3)
    bands = Adafactor.bands(grad)
    assert torch.cat([grad[band][0, :, 0] for band in bands]).tolist() == list(range(7))
    assert grad[bands[0]].size(-2) == rows


@pytest.mark.parametrize('shape, factored', [((1024, 4096), 1024 + 4096), ((7, 3), 7 + 3), ((4, 6, 5), 4 * (6 + 5)),
                                             ((1000,), 1000), ((), 1)])
def test_an_n_by_m_matrix_keeps_n_plus_m_second_moment_numbers(shape, factored):
    param = torch.zeros(shape, requires_grad=True)
    param.grad = torch.ones(shape)

    def moments(optimizer):
        optimizer.step()
        state = optimizer.state[param]
        return sum(value.numel() for key, value in state.items() if key != 'step' and isinstance(value, torch.Tensor))

    assert moments(Adafactor([param])) == factored
    # Adam keeps two full tensors
    assert moments(Adam([param])) == 2 * param.numel()


def test_with_the_papers_eps1_it_is_the_papers_algorithm():
    # Algorithms 4 and 5 of Shazeer and Stern, written out (sums, eps1 added to g^2): the same steps,
    # for gradients large and small.
    for dtype, tolerance in ((torch.float32, 1e-6), (torch.float64, 1e-12)):
        for grad_scale in (1., 1e-5):
            difference = max_param_difference(lambda groups: Adafactor(groups, eps=(1e-30, 1e-3)),
                                              AdafactorPaperReference, dtype=dtype, grad_scale=grad_scale, pull=0.,
                                              change_lr_at=200)
            assert difference <= tolerance


def test_torchs_default_eps1_departs_from_the_paper_when_the_gradients_are_small():
    # eps1 = float32's machine epsilon floors mean(R) when the gradients' mean square is below it
    # (RMS below 3.5e-4): V-hat shrinks over the whole matrix and the update grows until it is clipped.
    def difference(grad_scale):
        return max_param_difference(Adafactor, AdafactorPaperReference, grad_scale=grad_scale, pull=0.,
                                    change_lr_at=200)

    assert difference(1e-3) <= 1e-6
    assert difference(1e-4) > 1e-2


def test_torchs_optim_db_inputs_step_as_torch_does():
    # The constructor arguments PyTorch's own OptimizerInfo tests pass to Adafactor
    from torch.testing._internal.common_optimizers import optim_inputs_func_adafactor
    inputs = optim_inputs_func_adafactor('cpu')
    assert len(inputs) >= 5
    for optimizer_input in inputs:
        kwargs = optimizer_input.kwargs
        difference = max_param_difference(lambda groups: Adafactor(groups, **kwargs),
                                          lambda groups: torch.optim.Adafactor(groups, **kwargs),
                                          steps=50, second_group=dict(lr=3e-3))
        assert difference <= TOLERANCE[torch.float32], optimizer_input.desc
