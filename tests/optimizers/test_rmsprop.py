import math
import itertools

import pytest
import torch

from labml_opt import RMSprop
from tests.optimizers.parity import max_param_difference
from tests.optimizers.resume import assert_resume_is_bit_identical, max_resume_difference

FLAGS = [dict(centered=centered, momentum=momentum, weight_decay=weight_decay, maximize=maximize)
         for centered, momentum, weight_decay, maximize in itertools.product([False, True], [0., 0.9], [0., 1e-2],
                                                                             [False, True])]


def second_group(flags):
    group = dict(lr=3e-3, alpha=0.9, eps=1e-6)
    if flags['momentum'] > 0:
        group['momentum'] = 0.5
    return group


@pytest.mark.parametrize('flags', FLAGS, ids=str)
def test_rmsprop_matches_torch_after_200_steps(flags):
    difference = max_param_difference(lambda groups: RMSprop(groups, lr=1e-2, **flags),
                                      lambda groups: torch.optim.RMSprop(groups, lr=1e-2, **flags),
                                      second_group=second_group(flags))
    # torch steps with one fused multiply-add where we round twice; with maximize the parameters
    # grow, and that compounds to 1e-5 over 200 steps (in float64 the two agree to 1e-13)
    assert difference <= 2e-5


@pytest.mark.parametrize('centered', [False, True])
def test_rmsprop_matches_torch_in_float64(centered):
    flags = dict(centered=centered, momentum=0.9, weight_decay=1e-2)
    difference = max_param_difference(lambda groups: RMSprop(groups, lr=1e-2, **flags),
                                      lambda groups: torch.optim.RMSprop(groups, lr=1e-2, **flags),
                                      dtype=torch.float64, second_group=dict(lr=3e-3, alpha=0.9))
    assert difference <= 1e-12


def test_rmsprop_first_step_is_lr_over_root_one_minus_alpha():
    # The page's claim: v_1 = (1 - alpha) g^2, so the first step is lr / sqrt(1 - alpha) = 10 lr.
    param = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    optimizer = RMSprop([param], lr=1e-2, alpha=0.99, eps=0.)
    param.grad = torch.tensor([5., -0.1, 1e-3], dtype=torch.float64)
    optimizer.step()
    assert torch.allclose(param.detach(), torch.tensor([-0.1, 0.1, -0.1], dtype=torch.float64), rtol=1e-12)


def test_rmsprop_defaults_are_torchs():
    ours = RMSprop([torch.zeros(1, requires_grad=True)]).defaults
    theirs = torch.optim.RMSprop([torch.zeros(1, requires_grad=True)]).defaults
    assert {name: theirs[name] for name in ours} == ours


@pytest.mark.parametrize('flags', [dict(), dict(centered=True, momentum=0.9, weight_decay=1e-2, maximize=True)],
                         ids=str)
def test_rmsprop_resumes_from_state_dict_bit_identically(flags):
    assert_resume_is_bit_identical(lambda groups: RMSprop(groups, lr=1e-2, **flags), second_group=dict(lr=3e-3))


@pytest.mark.parametrize('flags', [dict(), dict(centered=True, momentum=0.9)], ids=str)
def test_torch_rmsprop_state_dict_loads_into_ours_and_back(flags):
    def ours(groups):
        return RMSprop(groups, lr=1e-2, **flags)

    def theirs(groups):
        return torch.optim.RMSprop(groups, lr=1e-2, **flags)

    assert max_resume_difference(theirs, ours, second_group=dict(lr=3e-3)) <= 1e-6
    assert max_resume_difference(ours, theirs, second_group=dict(lr=3e-3)) <= 1e-6


@pytest.mark.parametrize('name, value', [
    ('lr', -1e-2),
    ('alpha', -0.1),
    ('alpha', 1.5),
    ('alpha', float('nan')),
    ('eps', -1e-8),
    ('momentum', -0.9),
    ('weight_decay', -1e-2),
])
def test_invalid_rmsprop_hyperparameters_name_optimizer_parameter_and_value(name, value):
    with pytest.raises(ValueError) as error:
        RMSprop([torch.zeros(1, requires_grad=True)], **{name: value})
    message = str(error.value)
    assert 'RMSprop' in message and name in message and repr(value) in message


def test_momentum_sums_normalised_gradients_to_about_one_over_one_minus_mu_times_alpha():
    # The page's claim: with a constant gradient, $v_t \to g^2$ and $b_t \to \frac{1}{1 - \mu}$ times
    # the normalised gradient, so the step approaches $\frac{\alpha}{1 - \mu}$: ten times Adam's $\alpha$.
    lr, mu, beta2, T = 1e-3, 0.9, 0.99, 3000
    param = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = RMSprop([param], lr=lr, momentum=mu, eps=0.)
    b, steps = 0., []
    for t in range(1, T + 1):
        param.grad = torch.tensor([1.], dtype=torch.float64)
        before = param.item()
        optimizer.step()
        steps.append(before - param.item())
        # $b_t = \mu b_{t-1} + \frac{1}{\sqrt{1 - \beta_2^t}}$, each term normalised by its own step's $v_t$
        b = mu * b + 1 / math.sqrt(1 - beta2 ** t)
        assert steps[-1] == pytest.approx(lr * b, rel=1e-9)
    # The page's numbers: $10 \alpha$ at $t = 1$ ($v_1$ is biased to zero), a peak of about $30 \alpha$
    # at $t = 11$, and $10 \alpha$ in the end
    assert steps[0] == pytest.approx(10 * lr, rel=1e-9)
    assert max(steps) == pytest.approx(30 * lr, rel=0.01) and steps.index(max(steps)) == 10
    assert steps[-1] == pytest.approx(lr / (1 - mu), rel=1e-6)
