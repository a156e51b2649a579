"""
Shared machinery for the learning-rate schedule tests (warm-up, cosine decay, Noam): run a scheduled
optimizer next to `labml_opt.Adam` whose `lr` is set by hand, before every step, to the schedule's
closed form, and compare the parameters after every step. The parameters only agree if the
optimizer applied exactly that learning rate at every step.
"""

from typing import Any, Callable, Dict

import torch

from labml_opt import Adam
from tests.optimizers.parity import MakeOptimizer, clone_params, gradients, make_params, max_difference, param_groups

# The closed-form learning rate at step `t` (counting from one) for a param group's hyper-parameters.
ClosedForm = Callable[[int, Dict[str, Any]], float]


def max_difference_from_adam_with_closed_form_lr(make_ours: MakeOptimizer, closed_form: ClosedForm, *,
                                                 dtype: torch.dtype = torch.float32, steps: int = 200,
                                                 second_group: Dict[str, Any] = None,
                                                 change_lr_at: int = None) -> float:
    r"""
    Step our optimizer and a reference Adam `steps` times on identical parameters and gradients
    and return the largest $|\theta_{ours} - \theta_{Adam}|$ seen after any step.

    The reference copies each of our groups' `betas`, `eps` and `weight_decay`, and our
    `optimized_update`; its `lr` at step $t$ is `closed_form(t, our_group)`. At `change_lr_at`
    (default: half way) each of our groups' `lr` is halved, as a scheduler would; the closed form
    sees the new value. After every step, `get_lr` on each parameter's real state must also equal
    the closed form.
    """
    if change_lr_at is None:
        change_lr_at = steps // 2
    initial = make_params(dtype)
    ours, reference = clone_params(initial), clone_params(initial)
    optimizer = make_ours(param_groups(ours, second_group or {}))
    reference_groups = [{'params': list(ref_group['params']), 'betas': group['betas'], 'eps': group['eps'],
                         'weight_decay': group['weight_decay']}
                        for group, ref_group in zip(optimizer.param_groups, param_groups(reference, {}))]
    adam = Adam(reference_groups, optimized_update=optimizer.optimized_update)

    worst = 0.
    for t, noise in enumerate(gradients(initial, steps), start=1):
        if t - 1 == change_lr_at:
            for group in optimizer.param_groups:
                group['lr'] *= 0.5
        for group, ref_group in zip(optimizer.param_groups, adam.param_groups):
            ref_group['lr'] = closed_form(t, group)
        for params, opt in ((ours, optimizer), (reference, adam)):
            for p, n in zip(params, noise):
                p.grad = n + 0.1 * p.detach()
            opt.step()
        for group in optimizer.param_groups:
            for p in group['params']:
                applied = optimizer.get_lr(optimizer.state[p], group)
                assert abs(applied - closed_form(t, group)) <= 1e-12 * abs(closed_form(t, group)) + 1e-300, \
                    f'step {t}: get_lr gives {applied}, the closed form {closed_form(t, group)}'
        worst = max(worst, max_difference(ours, reference))
    return worst

