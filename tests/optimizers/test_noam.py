import pytest
import torch

from labml_opt import Noam


def test_noam_peaks_at_warmup_with_the_papers_value():
    param = torch.zeros(1, requires_grad=True)
    optimizer = Noam([param])
    group, lrs = optimizer.param_groups[0], []
    for _ in range(4010):
        param.grad = torch.ones(1)
        optimizer.step()
        lrs.append(optimizer.get_lr(optimizer.state[param], group))
    peak = max(range(len(lrs)), key=lrs.__getitem__)
    assert peak + 1 == 4000
    assert lrs[peak] == pytest.approx((512 * 4000) ** -0.5)
    assert lrs[0] == pytest.approx(512 ** -0.5 * 4000 ** -1.5)
