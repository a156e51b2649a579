import copy
import io

import pytest
import torch

from labml_opt import Sophia, WeightDecay
from labml_opt.sophia import gnb_loss, train_with_sophia
from tests.optimizers.parity import TOLERANCE, clone_params, gradients, make_params, max_difference, param_groups, train
from tests.optimizers.references import SophiaReference, decayed


def sampled_gradients(params, seed):
    """hat{g} for each refresh: noise of scale 2, except the 0-d parameter, whose estimate stays zero."""
    for sampled in gradients(params, 10_000, seed=seed, scale=2.):
        yield [torch.zeros_like(s) if s.dim() == 0 else s for s in sampled]


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('maximize', [False, True])
@pytest.mark.parametrize('fast', [False, True], ids=['reference', 'fast'])
def test_sophia_matches_algorithm_3_after_200_steps_with_hessian_refresh_and_clipping(dtype, maximize, fast):
    steps, k, batch_size = 200, 10, 8
    second = dict(lr=3e-3, betas=(0.9, 0.95), rho=0.1, weight_decay=0.)
    initial = make_params(dtype)
    noise = list(gradients(initial, steps))
    # Both paths: the annotated step, and the compiled one of the fast path
    ours = Sophia([dict(group, fast=fast) for group in param_groups(clone_params(initial), second)],
                  lr=1e-2, rho=0.04, weight_decay=0.1, maximize=maximize)
    reference = decayed(SophiaReference)(param_groups(clone_params(initial), second), lr=1e-2, betas=(0.965, 0.99),
                                         rho=0.04, eps=1e-15, weight_decay=0.1, maximize=maximize)
    for optimizer in (ours, reference):
        params = [p for group in optimizer.param_groups for p in group['params']]
        hessian_noise = sampled_gradients(initial, seed=7)
        # Algorithm 3 refreshes h before steps 1, k + 1, 2k + 1, ..., at the current parameters.
        for start in range(0, steps, k):
            for p, s in zip(params, next(hessian_noise)):
                p.grad = s.clone()
            optimizer.update_hessian(batch_size=batch_size)
            train(params, optimizer, noise[start:start + k], first_step=start, change_lr_at=steps // 2)

    # Clipping must have engaged on some coordinates and not on others, at most steps.
    assert sum(0.05 < c < 0.95 for c in reference.clipped) >= 150
    our_params, reference_params = ([p for group in o.param_groups for p in group['params']] for o in (ours, reference))
    assert max_difference(our_params, reference_params) <= TOLERANCE[dtype]
    # The curvature estimate folded in the same 20 refreshes; h reaches about 40, so relative to it.
    hessians = [ours.state[p]['hessian'] for p in our_params], [reference.state[p]['h'] for p in reference_params]
    scale = max(h.abs().max().item() for h in hessians[1])
    assert max_difference(*hessians) <= TOLERANCE[dtype] * scale


def test_a_zero_hessian_estimate_gives_sign_momentum_steps_of_size_lr():
    param = torch.zeros(4, requires_grad=True)
    optimizer = Sophia([param], lr=0.1, weight_decay=0.)
    param.grad = torch.tensor([1e-3, -2., 5., 0.])
    optimizer.step()
    assert torch.equal(param.detach(), torch.tensor([-0.1, 0.1, -0.1, 0.]))


def test_decoupled_weight_decay_shrinks_by_lr_times_lambda_before_the_update():
    param = torch.ones(3, requires_grad=True)
    optimizer = Sophia([param], lr=0.5, weight_decay=0.2)
    param.grad = torch.zeros(3)
    optimizer.step()
    assert torch.equal(param.detach(), torch.full((3,), 0.9))


def test_a_coupled_weight_decay_object_adds_lambda_theta_to_the_gradient_instead():
    param = torch.ones(3, requires_grad=True)
    optimizer = Sophia([param], lr=0.5, weight_decay=WeightDecay(0.2, weight_decouple=False))
    param.grad = torch.zeros(3)
    optimizer.step()
    # g = 0.2 * theta; with h = 0 the step is clipped to a full -lr * sign(m)
    assert torch.equal(param.detach(), torch.full((3,), 0.5))


def test_update_hessian_folds_in_batch_size_times_the_squared_gradient_of_the_sampled_label_loss():
    torch.manual_seed(0)
    model = torch.nn.Linear(5, 4)
    optimizer = Sophia(model.parameters(), betas=(0.9, 0.75))
    x = torch.randn(6, 5)
    generator = torch.Generator().manual_seed(3)
    squares = []
    for _ in range(2):
        optimizer.zero_grad()
        gnb_loss(model(x), generator=generator).backward()
        squares.append([p.grad.detach() ** 2 for p in model.parameters()])
        optimizer.update_hessian(batch_size=6)
    for p, first, second in zip(model.parameters(), *squares):
        # h = beta2 * (1 - beta2) * B * g1^2 + (1 - beta2) * B * g2^2, starting from h = 0
        expected = 0.75 * 0.25 * 6 * first + 0.25 * 6 * second
        assert torch.allclose(optimizer.state[p]['hessian'], expected, rtol=1e-6, atol=0)
        assert optimizer.state[p]['step'] == 0
    assert any(first.abs().sum() > 0 for first in squares[0])


def test_gnb_loss_is_mean_cross_entropy_against_labels_drawn_from_the_models_softmax():
    rows = 30_000
    logits = torch.tensor([0., 1., 2.]).repeat(rows, 1).reshape(100, 300, 3).requires_grad_()
    gnb_loss(logits, generator=torch.Generator().manual_seed(0)).backward()
    # The gradient of the mean cross-entropy is (p - e_y) / B per row, so it reveals each label.
    p = torch.softmax(torch.tensor([0., 1., 2.]), -1)
    one_hot = p - rows * logits.grad.reshape(rows, 3)
    assert torch.allclose(one_hot, one_hot.round(), atol=1e-4)
    assert torch.equal(one_hot.round().sum(-1), torch.ones(rows))
    frequencies = one_hot.round().mean(0)
    assert torch.allclose(frequencies, p, atol=0.01)


def test_gnb_estimate_is_unbiased_for_the_gauss_newton_diagonal():
    # Logistic regression: f = W x + b. Per example the Gauss-Newton diagonal is
    # (p_c - p_c^2) x_j^2 for W_cj and (p_c - p_c^2) for b_c; the batch's is their mean.
    torch.manual_seed(0)
    batch_size, features, classes, draws = 5, 3, 4, 20_000
    model = torch.nn.Linear(features, classes)
    x = torch.randn(batch_size, features)
    with torch.no_grad():
        p = torch.softmax(model(x), -1)
        curvature = p - p ** 2
        gauss_newton = [(curvature[:, :, None] * x[:, None, :] ** 2).mean(0), curvature.mean(0)]

    # All draws in one backward pass: one copy of the parameters per draw. `gnb_loss` averages
    # over draws * B rows, so a copy's gradient is its own draw's hat{g} divided by `draws`.
    weight = model.weight.detach().expand(draws, classes, features).clone().requires_grad_()
    bias = model.bias.detach().expand(draws, classes).clone().requires_grad_()
    logits = torch.einsum('bf,dcf->dbc', x, weight) + bias[:, None, :]
    gnb_loss(logits, generator=torch.Generator().manual_seed(1)).backward()
    for copies, expected in zip((weight, bias), gauss_newton):
        # E[B * hat{g} ** 2]
        estimate = (batch_size * (draws * copies.grad) ** 2).mean(0)
        assert torch.allclose(estimate, expected, rtol=0.05, atol=0.01 * expected.max().item())


def test_train_with_sophia_refreshes_at_steps_1_k_plus_1_and_cuts_digits_loss_30_times_in_100_steps():
    from sklearn.datasets import load_digits
    data = load_digits()
    x, y = torch.tensor(data.data, dtype=torch.float32) / 16., torch.tensor(data.target)
    torch.manual_seed(0)
    model = torch.nn.Linear(64, 10)
    optimizer = Sophia(model.parameters(), lr=0.05, rho=0.05, weight_decay=0.)
    refreshed_before_step = []
    update_hessian = optimizer.update_hessian

    def recording_update_hessian(batch_size):
        refreshed_before_step.append(optimizer.state[model.weight]['step'] if optimizer.state else 0)
        assert batch_size == len(x)
        update_hessian(batch_size)

    optimizer.update_hessian = recording_update_hessian
    losses = train_with_sophia(model, optimizer, [(x, y)] * 100, k=10)
    with torch.no_grad():
        final = torch.nn.functional.cross_entropy(model(x), y).item()
    assert refreshed_before_step == list(range(0, 100, 10))
    assert final < losses[0] / 30


def test_state_dict_round_trip_with_hessian_is_bit_identical():
    def run(model, optimizer, steps, seed):
        generator = torch.Generator().manual_seed(seed)
        batches = [(torch.randn(8, 4, generator=generator), torch.randint(0, 3, (8,), generator=generator))
                   for _ in range(steps)]
        train_with_sophia(model, optimizer, batches, k=5)

    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    reference = copy.deepcopy(model)
    reference_optimizer = Sophia(reference.parameters(), lr=1e-2)
    torch.manual_seed(10)
    run(reference, reference_optimizer, 50, seed=1)
    torch.manual_seed(11)
    run(reference, reference_optimizer, 50, seed=2)

    optimizer = Sophia(model.parameters(), lr=1e-2)
    torch.manual_seed(10)
    run(model, optimizer, 50, seed=1)
    buffer = io.BytesIO()
    torch.save(optimizer.state_dict(), buffer)
    buffer.seek(0)
    resumed = Sophia(model.parameters(), lr=1e-2)
    resumed.load_state_dict(torch.load(buffer))
    torch.manual_seed(11)
    run(model, resumed, 50, seed=2)
    for a, b in zip(model.parameters(), reference.parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize('batch_size', [0, -3, 2.5])
def test_bad_batch_size_for_the_hessian_update_is_rejected(batch_size):
    optimizer = Sophia([torch.zeros(2, requires_grad=True)])
    with pytest.raises(ValueError, match=f'Invalid batch_size {batch_size!r} for Sophia: must be an integer >= 1'):
        optimizer.update_hessian(batch_size)


def test_clipped_coordinates_move_exactly_lr_and_the_others_by_the_smaller_newton_step():
    # The page's claim: $\alpha$ is the largest step, taken exactly by every clipped coordinate.
    lr, beta1, beta2, gamma, batch_size = 0.1, 0.9, 0.99, 0.5, 4
    param = torch.zeros(6, dtype=torch.float64, requires_grad=True)
    optimizer = Sophia([param], lr=lr, betas=(beta1, beta2), rho=gamma, eps=1e-12, weight_decay=0.)
    g_hat = torch.tensor([1., 1., 0.1, 2., 0.5, 3.], dtype=torch.float64)
    g = torch.tensor([0.02, -0.5, 0.3, 1., -0.01, -2.], dtype=torch.float64)
    param.grad = g_hat.clone()
    optimizer.update_hessian(batch_size=batch_size)
    param.grad = g.clone()
    optimizer.step()
    step = -param.detach()
    # $m_1 = (1 - \beta_1) g_1$, $h_1 = (1 - \beta_2) B \hat{g}^2$, unclipped step $\alpha m_1 / (\gamma h_1)$
    newton = lr * (1 - beta1) * g / (gamma * (1 - beta2) * batch_size * g_hat ** 2)
    clipped = newton.abs() >= lr
    assert 0 < clipped.sum() < 6
    assert torch.equal(step[clipped], lr * torch.sign(g[clipped]))
    assert torch.allclose(step[~clipped], newton[~clipped], rtol=1e-12, atol=0)
    assert (step[~clipped].abs() < lr).all()


def test_no_coordinate_ever_moves_more_than_lr():
    generator = torch.Generator().manual_seed(0)
    lr = 0.05
    param = torch.zeros(1000, dtype=torch.float64, requires_grad=True)
    optimizer = Sophia([param], lr=lr, weight_decay=0.)
    for t in range(1, 31):
        if t % 10 == 1:
            param.grad = torch.randn(1000, generator=generator, dtype=torch.float64)
            optimizer.update_hessian(batch_size=1)
        param.grad = 10 * torch.randn(1000, generator=generator, dtype=torch.float64)
        before = param.detach().clone()
        optimizer.step()
        # up to the rounding of $\theta_{t-1} - \alpha$
        assert (param.detach() - before).abs().max().item() <= lr * (1 + 1e-12)
