import torch

from labml_opt import Adam, AMSGrad
from tests.optimizers.parity import TOLERANCE, clone_params, make_params, max_param_difference


def test_the_maximum_changes_the_trajectory_on_the_parity_problem():
    # Otherwise the contract's parity test could not tell AMSGrad from Adam.
    difference = max_param_difference(
        lambda groups: Adam(groups, lr=1e-2, betas=(0.8, 0.99)),
        lambda groups: torch.optim.Adam(groups, lr=1e-2, betas=(0.8, 0.99), amsgrad=True),
        second_group=dict(lr=3e-3))
    assert difference > 1e-3


def test_amsgrad_false_keeps_no_maximum():
    param = torch.ones(3, requires_grad=True)
    optimizer = AMSGrad([param], amsgrad=False)
    param.grad = torch.ones(3)
    optimizer.step()
    assert set(optimizer.state[param]) == {'step', 'exp_avg', 'exp_avg_sq'}


def test_amsgrad_can_be_switched_off_per_param_group():
    difference = max_param_difference(lambda groups: AMSGrad(groups, lr=1e-2),
                                      lambda groups: torch.optim.Adam(groups, lr=1e-2, amsgrad=True),
                                      second_group=dict(amsgrad=False))
    assert difference <= TOLERANCE[torch.float32]
    params = clone_params(make_params())
    optimizer = AMSGrad([{'params': params[:2]}, {'params': params[2:], 'amsgrad': False}])
    for p in params:
        p.grad = torch.ones_like(p)
    optimizer.step()
    assert 'max_exp_avg_sq' in optimizer.state[params[0]]
    assert 'max_exp_avg_sq' not in optimizer.state[params[2]]
