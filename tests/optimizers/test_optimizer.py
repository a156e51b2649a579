"""
The template optimizer (labml_opt/optimizer.py): the numbers of a step are computed once for the
parameters of a group whose counters agree, and each parameter still gets its own when they differ;
an update's reach is one of the three the template knows.
"""

import pytest
import torch

from labml_opt import Adam, NAdam, SharedAdam


def test_parameters_that_skipped_steps_get_their_own_bias_correction():
    # `late` has no gradient for the first three steps, so its `step` lags the others' by three;
    # the parameters around it share their numbers
    def run(make):
        generator = torch.Generator().manual_seed(0)
        params = [torch.randn(5, generator=generator, requires_grad=True) for _ in range(4)]
        optimizer = make(params)
        for step in range(8):
            for i, param in enumerate(params):
                late = i == 2 and step < 3
                param.grad = None if late else torch.randn(5, generator=generator)
            optimizer.step()
        return params, optimizer

    for ours, theirs in ((Adam, torch.optim.Adam), (NAdam, torch.optim.NAdam)):
        params, optimizer = run(lambda params: ours(params, lr=0.1))
        expected, _ = run(lambda params: theirs(params, lr=0.1))
        assert [optimizer.state[param]['step'] for param in params] == [8, 8, 5, 8]
        for param, reference in zip(params, expected):
            torch.testing.assert_close(param, reference, rtol=0, atol=1e-6)


def test_the_numbers_of_a_step_are_computed_once_for_a_group_that_agrees():
    class Counted(Adam):
        calls = 0

        def step_numbers(self, state, group):
            Counted.calls += 1
            return super().step_numbers(state, group)

    params = [torch.ones(3, requires_grad=True) for _ in range(10)]
    for param in params:
        param.grad = torch.ones(3)
    optimizer = Counted(params)
    optimizer.step()
    optimizer.step()
    assert Counted.calls == 2
    assert all(optimizer.state[param]['step'] == 2 for param in params)


def test_a_counter_kept_in_a_tensor_is_counted_for_every_parameter():
    params = [torch.ones(3, requires_grad=True) for _ in range(3)]
    for param in params:
        param.grad = torch.ones(3)
    optimizer = SharedAdam(params)
    for _ in range(4):
        optimizer.step()
    assert [int(optimizer.state[param]['step']) for param in params] == [4, 4, 4]


def test_a_reach_other_than_the_three_is_refused_at_the_step():
    # A misspelt reach would otherwise be taken for a wide one under FSDP2 and for 'element' elsewhere
    class RowWise(Adam):
        def reach(self, group):
            return 'row'

    param = torch.ones(3, requires_grad=True)
    param.grad = torch.ones(3)
    with pytest.raises(ValueError, match=r"Invalid reach 'row' of RowWise: must be one of \('element', 'tensor', 'matrix'\)"):
        RowWise([param]).step()
