"""
L-BFGS against torch.optim.LBFGS on problems where its memory and line search matter, and the
claims of its page: the two-loop recursion is the BFGS inverse-Hessian approximation, the line
search returns steps that satisfy the strong Wolfe conditions, and the cubic's minimum is exact.
The contract table (test_contract.py) runs it on the shared gradient noise too.
"""

import pytest
import torch

import labml_opt
import labml_opt.fast as fast
from labml_opt import LBFGS, Adam
from labml_opt.lbfgs import cubic_minimum, strong_wolfe, two_loop_recursion
from tests.optimizers.parity import TOLERANCE, max_scaled_difference

STEPS = 200


def rosenbrock(x: torch.Tensor) -> torch.Tensor:
    """Rosenbrock's function in `len(x)` dimensions: a curved valley with its minimum, 0, at all ones."""
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def rosenbrock_start(dtype: torch.dtype) -> torch.Tensor:
    """The classic start (-1.2, 1) repeated: far from the minimum, on the other side of the valley."""
    x = torch.ones(10, dtype=dtype)
    x[0::2] = -1.2
    return x


def fit(cls, dtype: torch.dtype, problem: str, steps: int = STEPS, **kwargs):
    """
    `steps` steps of `cls` on a problem; return the parameters, the losses `step` returned and the optimizer.

    * `rosenbrock`: one function, a few iterations per step, 200 steps to the minimum and on
    * `least_squares`: a two-layer regression with a new mini-batch in every step, so the memory
      carries pairs measured on other batches and the steps never converge
    """
    generator = torch.Generator().manual_seed(0)
    if problem == 'rosenbrock':
        params = [rosenbrock_start(dtype).requires_grad_()]
        batches = [None] * steps
    else:
        params = [(0.5 * torch.randn(6, 8, generator=generator, dtype=dtype)).requires_grad_(),
                  torch.zeros(8, dtype=dtype, requires_grad=True),
                  (0.5 * torch.randn(8, generator=generator, dtype=dtype)).requires_grad_()]
        true = torch.randn(6, generator=generator, dtype=dtype)
        inputs = [torch.randn(32, 6, generator=generator, dtype=dtype) for _ in range(steps)]
        batches = [(x, torch.sin(x @ true) + 0.1 * torch.randn(32, generator=generator, dtype=dtype)) for x in inputs]
    optimizer = cls(params, **kwargs)

    def loss(batch):
        if batch is None:
            return rosenbrock(params[0])
        x, y = batch
        w1, b1, w2 = params
        return ((torch.tanh(x @ w1 + b1) @ w2 - y) ** 2).mean()

    losses = []
    for batch in batches:
        def closure():
            optimizer.zero_grad()
            value = loss(batch)
            value.backward()
            return value
        losses.append(optimizer.step(closure).item())
    return [p.detach() for p in params], losses, optimizer


CASES = {
    # One iteration per step: every step adds a pair; ten evaluations leave the line search room
    'rosenbrock': dict(max_iter=1, max_eval=10, history_size=5),
    'least_squares': dict(max_iter=3, history_size=4),
    'least_squares-lr': dict(lr=0.3, max_iter=4, history_size=10),
}


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64], ids=['float32', 'float64'])
@pytest.mark.parametrize('line_search_fn', [None, 'strong_wolfe'])
@pytest.mark.parametrize('case', sorted(CASES))
def test_lbfgs_matches_torch_after_200_steps(case, line_search_fn, dtype):
    problem = case.split('-')[0]
    kwargs = dict(CASES[case], line_search_fn=line_search_fn)
    ours, our_losses, optimizer = fit(LBFGS, dtype, problem, **kwargs)
    theirs, their_losses, reference = fit(torch.optim.LBFGS, dtype, problem, **kwargs)
    assert max_scaled_difference(ours, theirs) <= TOLERANCE[dtype]
    ours_state, their_state = optimizer.state[optimizer.params[0]], reference.state[reference._params[0]]
    assert ours_state.keys() == their_state.keys()
    assert (ours_state['n_iter'], ours_state['func_evals']) == (their_state['n_iter'], their_state['func_evals'])
    # The run did something: the loss fell, and the memory filled
    assert sum(our_losses[-20:]) / 20 < our_losses[0] / 5
    assert len(ours_state['old_dirs']) == kwargs['history_size']


def test_lbfgs_with_a_tensor_lr_matches_torch():
    ours, _, _ = fit(LBFGS, torch.float64, 'least_squares', steps=50, lr=torch.tensor([0.3], dtype=torch.float64),
                     max_iter=4)
    theirs, _, _ = fit(torch.optim.LBFGS, torch.float64, 'least_squares', steps=50,
                       lr=torch.tensor([0.3], dtype=torch.float64), max_iter=4)
    assert max_scaled_difference(ours, theirs) <= TOLERANCE[torch.float64]


def bfgs_inverse_hessian(old_stps, old_dirs, gamma) -> torch.Tensor:
    r"""$H$ as a matrix: the BFGS update of the page applied to $\gamma I$ for each pair, oldest first."""
    n = len(old_stps[0])
    H = gamma * torch.eye(n, dtype=torch.float64)
    for s, y in zip(old_stps, old_dirs):
        rho = 1 / y.dot(s)
        V = torch.eye(n, dtype=torch.float64) - rho * torch.outer(y, s)
        H = V.T @ H @ V + rho * torch.outer(s, s)
    return H


def test_two_loop_recursion_is_the_bfgs_inverse_hessian_of_its_pairs_applied_to_a_vector():
    # A quadratic with a spread of curvatures; a memory of 3 pairs after 8 iterations, so older
    # pairs have been forgotten
    generator = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=generator, dtype=torch.float64))
    A = q @ torch.diag(torch.tensor([0.1, 0.5, 1., 2., 5., 20.], dtype=torch.float64)) @ q.T
    b = torch.randn(6, generator=generator, dtype=torch.float64)
    x = torch.zeros(6, dtype=torch.float64, requires_grad=True)
    optimizer = LBFGS([x], history_size=3, max_iter=8, line_search_fn='strong_wolfe', tolerance_grad=0,
                      tolerance_change=0)

    def closure():
        optimizer.zero_grad()
        loss = 0.5 * x @ A @ x - b @ x
        loss.backward()
        return loss

    optimizer.step(closure)
    state = optimizer.state[x]
    assert state['n_iter'] == 8 and len(state['old_dirs']) == 3
    H = bfgs_inverse_hessian(state['old_stps'], state['old_dirs'], state['H_diag'])
    vector = torch.randn(6, generator=generator, dtype=torch.float64)
    direction = two_loop_recursion(vector, state['old_dirs'], state['old_stps'], state['ro'], state['H_diag'], [None] * 3)
    assert torch.allclose(direction, -H @ vector, rtol=1e-12, atol=1e-12)
    # The secant equation for the newest pair, $H y = s$
    newest = two_loop_recursion(state['old_dirs'][-1], state['old_dirs'], state['old_stps'], state['ro'],
                                state['H_diag'], [None] * 3)
    assert torch.allclose(-newest, state['old_stps'][-1], rtol=1e-12, atol=1e-12)
    # And every pair has $y^\top s > 0$, so $H$ is positive definite
    assert torch.linalg.eigvalsh((H + H.T) / 2).min() > 0


def test_cubic_minimum_is_the_local_minimum_of_a_cubic_from_two_points():
    # phi(x) = (x - 1)^3 - 3 (x - 1) + 2 has its local minimum at x = 2
    phi = lambda x: (x - 1) ** 3 - 3 * (x - 1) + 2  # noqa: E731
    slope = lambda x: 3 * (x - 1) ** 2 - 3  # noqa: E731
    for x1, x2 in [(0.5, 3.), (3., 0.5), (1.5, 2.2)]:
        a, b = torch.tensor(x1, dtype=torch.float64), torch.tensor(x2, dtype=torch.float64)
        minimum = cubic_minimum(a, phi(a), slope(a), b, phi(b), slope(b))
        assert abs(float(minimum) - 2.) <= 1e-12
    # Clipped to the bounds, and the middle of the bounds for a cubic without a local minimum
    a, b = torch.tensor(0.5, dtype=torch.float64), torch.tensor(3., dtype=torch.float64)
    assert float(cubic_minimum(a, phi(a), slope(a), b, phi(b), slope(b), bounds=(0., 1.5))) == 1.5
    rising = lambda x: x ** 3 + x  # noqa: E731
    assert float(cubic_minimum(a, rising(a), 3 * a ** 2 + 1, b, rising(b), 3 * b ** 2 + 1)) == 1.75


@pytest.mark.parametrize('start', range(5))
def test_strong_wolfe_returns_a_step_that_satisfies_both_conditions(start):
    generator = torch.Generator().manual_seed(start)
    x = rosenbrock_start(torch.float64) + 0.3 * torch.randn(10, generator=generator, dtype=torch.float64)

    def loss_and_grad(point):
        point = point.clone().requires_grad_()
        loss = rosenbrock(point)
        loss.backward()
        return loss.item(), point.grad

    loss, grad = loss_and_grad(x)
    d = -grad
    gtd = grad.dot(d)
    # A first trial of 1 along the gradient is far too long here: the search must shorten it
    f_new, g_new, t, evals = strong_wolfe(lambda step: loss_and_grad(x + step * d), 1., d, loss, grad, gtd)
    c1, c2 = 1e-4, 0.9
    assert f_new == loss_and_grad(x + t * d)[0]
    # Sufficient decrease
    assert f_new <= loss + c1 * t * gtd
    # Curvature, in the strong form
    assert abs(g_new.dot(d)) <= c2 * abs(gtd)
    assert 1 < evals <= 25


def test_lbfgs_with_the_line_search_reaches_rosenbrocks_minimum_in_a_hundred_evaluations_where_adam_does_not():
    # The page's "when to use it": a smooth, deterministic problem
    x = rosenbrock_start(torch.float64).requires_grad_()
    optimizer = LBFGS([x], line_search_fn='strong_wolfe', max_iter=500, max_eval=150, tolerance_grad=1e-12,
                      tolerance_change=0)

    def closure():
        optimizer.zero_grad()
        loss = rosenbrock(x)
        loss.backward()
        return loss

    optimizer.step(closure)
    assert optimizer.state[x]['func_evals'] <= 150
    assert rosenbrock(x).item() < 1e-12
    # Adam, with ten times as many gradients and the best of five learning rates, is still far away
    best = float('inf')
    for lr in (1e-3, 3e-3, 1e-2, 3e-2, 1e-1):
        y = rosenbrock_start(torch.float64).requires_grad_()
        adam = Adam([y], lr=lr)
        for _ in range(1500):
            adam.zero_grad()
            rosenbrock(y).backward()
            adam.step()
        best = min(best, rosenbrock(y).item())
    assert best > 1e-6


def lbfgs_steps(cls, params, loss, steps=10, **kwargs):
    optimizer = cls(params, **kwargs)

    def closure():
        optimizer.zero_grad()
        value = loss()
        value.backward()
        return value

    for _ in range(steps):
        optimizer.step(closure)
    return optimizer


def test_complex_parameters_are_two_real_numbers_as_in_torch():
    generator = torch.Generator().manual_seed(0)
    target = torch.randn(5, dtype=torch.complex128, generator=generator)
    start = torch.randn(5, dtype=torch.complex128, generator=generator)
    results = []
    for cls in (LBFGS, torch.optim.LBFGS):
        z = start.clone().requires_grad_()
        lbfgs_steps(cls, [z], lambda: ((z - target).abs() ** 4).sum(), line_search_fn='strong_wolfe', max_iter=3)
        results.append(z.detach())
    assert torch.allclose(results[0], results[1], rtol=0, atol=1e-12)
    assert not torch.equal(results[0], start)


def test_a_transposed_parameter_works_and_steps_as_its_contiguous_copy_does_in_torch():
    # torch.optim.LBFGS reads gradients with `view(-1)`, which a transposed parameter's gradient refuses
    generator = torch.Generator().manual_seed(0)
    target = torch.randn(3, 4, dtype=torch.float64, generator=generator)
    start = torch.randn(4, 3, dtype=torch.float64, generator=generator)
    transposed = start.clone().t().requires_grad_()
    contiguous = start.t().contiguous().requires_grad_()
    lbfgs_steps(LBFGS, [transposed], lambda: ((transposed - target) ** 4).sum(), max_iter=3)
    lbfgs_steps(torch.optim.LBFGS, [contiguous], lambda: ((contiguous - target) ** 4).sum(), max_iter=3)
    assert torch.equal(transposed.detach(), contiguous.detach())
    again = start.clone().t().requires_grad_()
    with pytest.raises(RuntimeError, match='view size is not compatible'):
        lbfgs_steps(torch.optim.LBFGS, [again], lambda: ((again - target) ** 4).sum())


def test_sparse_gradients_are_made_dense_as_in_torch():
    results = []
    for cls in (LBFGS, torch.optim.LBFGS):
        torch.manual_seed(0)
        embedding = torch.nn.Embedding(10, 3, sparse=True).double()
        indices = torch.tensor([1, 4, 4, 7])
        lbfgs_steps(cls, embedding.parameters(), lambda: (embedding(indices) - 1).pow(2).sum(), max_iter=3)
        results.append(embedding.weight.detach())
    assert torch.equal(*results)


def test_lbfgs_never_asks_for_the_fast_path(monkeypatch):
    # Not element-wise: even a group the size that would choose the fast path runs L-BFGS's own step
    def refuse(*args):
        raise AssertionError('LBFGS asked for the fast path')
    monkeypatch.setattr(fast, 'compiled_step', refuse)
    monkeypatch.setattr(fast, 'MIN_NUMEL', 0)
    x = torch.zeros(3, requires_grad=True)
    lbfgs_steps(LBFGS, [x], lambda: ((x - 1) ** 2).sum(), steps=2)
    assert torch.allclose(x.detach(), torch.ones(3))


def test_errors_are_torchs_types():
    x = torch.zeros(2, requires_grad=True)
    # A bad line search: torch's RuntimeError, at construction rather than on the first step
    with pytest.raises(RuntimeError, match="Invalid line_search_fn 'wolfe' for LBFGS: must be None or 'strong_wolfe'"):
        LBFGS([x], line_search_fn='wolfe')
    with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported"):
        lbfgs_steps(torch.optim.LBFGS, [x], lambda: x.sum(), line_search_fn='wolfe')
    # A second group: ValueError, and the optimizer keeps the one it had
    for cls in (LBFGS, torch.optim.LBFGS):
        with pytest.raises(ValueError, match="LBFGS doesn't support per-parameter options"):
            cls([{'params': [x]}, {'params': [torch.zeros(1, requires_grad=True)]}])
    optimizer = LBFGS([x])
    with pytest.raises(ValueError, match="LBFGS doesn't support per-parameter options"):
        optimizer.add_param_group({'params': [torch.zeros(1, requires_grad=True)]})
    assert len(optimizer.param_groups) == 1
    # No closure: TypeError, as in torch
    for cls in (LBFGS, torch.optim.LBFGS):
        with pytest.raises(TypeError):
            cls([x]).step()


def test_loading_another_optimizers_state_names_both_and_changes_nothing():
    x = torch.zeros(2, requires_grad=True)
    adam = labml_opt.Adam([x])
    x.grad = torch.ones(2)
    adam.step()
    optimizer = LBFGS([x])
    with pytest.raises(ValueError, match=r"Cannot load the state of Adam into LBFGS: .*\['exp_avg', 'exp_avg_sq', 'step'\]"):
        optimizer.load_state_dict(adam.state_dict())
    assert not optimizer.state
