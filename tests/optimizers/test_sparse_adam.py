"""
SparseAdam against torch.optim.SparseAdam on an embedding with sparse gradients, and the claims of
its page: the lazy update leaves absent rows, their moments included, exactly as they were, where
Adam decays them and keeps moving the rows. The contract table (test_contract.py) runs it too.
"""

import pytest
import torch

import labml_opt.fast as fast
from labml_opt import SparseAdam
from tests.optimizers.parity import TOLERANCE, max_scaled_difference

ROWS, DIM = 50, 8


def sparse(indices, values, size) -> torch.Tensor:
    """A sparse vector with these entries (an index may repeat)."""
    return torch.sparse_coo_tensor(torch.tensor([indices]), values, size, check_invariants=True)


def train_embedding(cls, dtype: torch.dtype, steps: int = 200, **kwargs):
    """
    An `nn.Embedding(sparse=True)` regressed onto random targets, 12 random rows (with repeats) per
    step: each step's gradient holds some rows, a row twice now and then, and leaves most out.
    """
    torch.manual_seed(0)
    embedding = torch.nn.Embedding(ROWS, DIM, sparse=True).to(dtype)
    optimizer = cls(embedding.parameters(), **kwargs)
    generator = torch.Generator().manual_seed(1)
    target = torch.randn(ROWS, DIM, generator=generator, dtype=dtype)
    losses = []
    for _ in range(steps):
        rows = torch.randint(0, ROWS, (12,), generator=generator)
        optimizer.zero_grad()
        loss = ((embedding(rows) - target[rows]) ** 2).sum()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return embedding.weight.detach(), optimizer, losses


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64], ids=['float32', 'float64'])
@pytest.mark.parametrize('kwargs', [dict(lr=0.05), dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, maximize=True),
                                    dict(lr=torch.tensor(0.05))], ids=['lr', 'betas-eps-maximize', 'tensor-lr'])
def test_sparse_adam_matches_torch_on_a_sparse_embedding_after_200_steps(kwargs, dtype):
    ours, optimizer, losses = train_embedding(SparseAdam, dtype, **kwargs)
    theirs, reference, _ = train_embedding(torch.optim.SparseAdam, dtype, **kwargs)
    assert max_scaled_difference([ours], [theirs]) <= TOLERANCE[dtype]
    (state,), (their_state,) = optimizer.state.values(), reference.state.values()
    assert state['step'] == their_state['step'] == 200
    assert max_scaled_difference([state['exp_avg_sq']], [their_state['exp_avg_sq']]) <= TOLERANCE[dtype]
    if not kwargs.get('maximize'):
        assert sum(losses[-20:]) < sum(losses[:20]) / 10


def test_absent_rows_keep_their_moments_where_adam_decays_them():
    # Step 1: rows 0 and 1. Steps 2-11: row 0 only. Step 12: both again.
    beta1, beta2, k = 0.9, 0.999, 10
    rows = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    dense = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    lazy, adam = SparseAdam([rows], lr=0.1), torch.optim.Adam([dense], lr=0.1)
    first = torch.tensor([[1., 2., 3.], [-1., 0.5, 2.]], dtype=torch.float64)

    def step(grad, present_rows):
        present = torch.zeros(2, 1, dtype=torch.float64)
        present[present_rows] = 1.
        rows.grad = (grad * present).to_sparse(1)
        dense.grad = grad * present
        lazy.step()
        adam.step()

    step(first, [0, 1])
    after_first = {key: lazy.state[rows][key][1].clone() for key in ('exp_avg', 'exp_avg_sq')}
    row = rows.detach()[1].clone()
    for _ in range(k):
        step(torch.ones(2, 3, dtype=torch.float64), [0])
    # Lazy: row 1, its m and its v are exactly as they were
    assert torch.equal(rows.detach()[1], row)
    for key, value in after_first.items():
        assert torch.equal(lazy.state[rows][key][1], value)
    # Adam: the moments decayed by beta^k and the row kept moving
    assert torch.allclose(adam.state[dense]['exp_avg'][1], beta1 ** k * after_first['exp_avg'], rtol=1e-12)
    assert torch.allclose(adam.state[dense]['exp_avg_sq'][1], beta2 ** k * after_first['exp_avg_sq'], rtol=1e-12)
    assert (dense.detach()[1] - row).abs().min() > 0.1
    # When the row comes back, its m has decayed once, not k + 1 times
    returning = torch.full((2, 3), 0.5, dtype=torch.float64)
    step(returning, [0, 1])
    expected = beta1 * after_first['exp_avg'] + (1 - beta1) * returning[1]
    assert torch.allclose(lazy.state[rows]['exp_avg'][1], expected, rtol=1e-15)
    assert torch.allclose(adam.state[dense]['exp_avg'][1], beta1 ** (k + 1) * after_first['exp_avg']
                          + (1 - beta1) * returning[1], rtol=1e-12)


def test_a_present_entry_with_value_zero_is_updated_and_an_absent_one_is_not():
    param = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    optimizer = SparseAdam([param], lr=0.1)
    param.grad = torch.ones(3, dtype=torch.float64).to_sparse()
    optimizer.step()
    m = optimizer.state[param]['exp_avg'].clone()
    # Index 0 is present with the value zero, index 1 is absent, index 2 is present
    param.grad = sparse([0, 2], torch.tensor([0., 1.], dtype=torch.float64), (3,))
    optimizer.step()
    assert optimizer.state[param]['exp_avg'][0] == 0.9 * m[0]
    assert optimizer.state[param]['exp_avg'][1] == m[1]


def test_an_index_listed_twice_is_summed_first():
    twice, once = (torch.zeros(4, requires_grad=True) for _ in range(2))
    optimizers = [SparseAdam([twice], lr=0.1), SparseAdam([once], lr=0.1)]
    twice.grad = sparse([1, 1], torch.tensor([0.3, 0.3]), (4,))
    once.grad = sparse([1], torch.tensor([0.6]), (4,))
    for optimizer in optimizers:
        optimizer.step()
    assert torch.equal(twice.detach(), once.detach())
    assert torch.equal(optimizers[0].state[twice]['exp_avg_sq'], optimizers[1].state[once]['exp_avg_sq'])


def test_errors_are_torchs_types_and_leave_the_optimizer_as_it_was():
    param = torch.zeros(3, requires_grad=True)
    for cls in (SparseAdam, torch.optim.SparseAdam):
        param.grad = torch.ones(3)
        with pytest.raises(RuntimeError, match='SparseAdam does not support dense gradients'):
            cls([param]).step()
        with pytest.raises(ValueError, match='SparseAdam requires dense parameter tensors'):
            cls([torch.zeros(3).to_sparse().requires_grad_()])
        with pytest.raises(ValueError, match='SparseAdam does not support complex parameters'):
            cls([torch.zeros(3, dtype=torch.complex64, requires_grad=True)])
    optimizer = SparseAdam([param])
    with pytest.raises(ValueError, match='SparseAdam requires dense parameter tensors'):
        optimizer.add_param_group({'params': [torch.zeros(3).to_sparse().requires_grad_()]})
    assert len(optimizer.param_groups) == 1
    # A dense gradient anywhere in the group: refused before any parameter is stepped
    other = torch.zeros(3, requires_grad=True)
    optimizer = SparseAdam([other, param])
    other.grad, param.grad = torch.ones(3).to_sparse(), torch.ones(3)
    with pytest.raises(RuntimeError):
        optimizer.step()
    assert not optimizer.state and torch.equal(other.detach(), torch.zeros(3))


def test_sparse_adam_never_asks_for_the_fast_path(monkeypatch):
    def refuse(*args):
        raise AssertionError('SparseAdam asked for the fast path')
    monkeypatch.setattr(fast, 'compiled_step', refuse)
    monkeypatch.setattr(fast, 'MIN_NUMEL', 0)
    param = torch.zeros(3, requires_grad=True)
    optimizer = SparseAdam([param], lr=0.1)
    param.grad = torch.ones(3).to_sparse()
    optimizer.step()
    assert torch.allclose(param.detach(), torch.full((3,), -0.1))


def test_a_row_that_first_appears_late_takes_a_step_of_about_3_alpha():
    # Row 0 has a gradient on every step, row 1 first at step 3001: bias corrections of step 3001
    lr, beta1, beta2, t = 0.01, 0.9, 0.999, 3001
    param = torch.zeros(2, 1, dtype=torch.float64, requires_grad=True)
    optimizer = SparseAdam([param], lr=lr)
    for _ in range(t - 1):
        param.grad = sparse([0], torch.ones(1, 1, dtype=torch.float64), (2, 1))
        optimizer.step()
    param.grad = sparse([1], torch.full((1, 1), 5., dtype=torch.float64), (2, 1))
    optimizer.step()
    step = -param.detach()[1].item()
    # $m = (1 - \beta_1) g$ and $v = (1 - \beta_2) g^2$, with $g = 5$ and $\epsilon = 10^{-8}$
    expected = lr * (1 - beta2 ** t) ** 0.5 / (1 - beta1 ** t) * (1 - beta1) * 5 / ((1 - beta2) ** 0.5 * 5 + 1e-8)
    assert abs(step - expected) <= 1e-9 * expected
    assert 3 * lr < step < 3.17 * lr
