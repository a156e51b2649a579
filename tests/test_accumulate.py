import pytest
import torch

from labml_opt import SGD, Adam
from labml_opt.accumulate import GradientAccumulation
from tests.optimizers.parity import max_difference

MICRO_BATCH = 5


def make_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))


def micro_batches(n):
    generator = torch.Generator().manual_seed(1)
    return [(torch.randn(MICRO_BATCH, 3, generator=generator), torch.randn(MICRO_BATCH, 2, generator=generator))
            for _ in range(n)]


def make_optimizer(name, params):
    # SGD's step is proportional to the gradient, so any error in the loss scale shows; Adam's mostly would not.
    if name == 'sgd':
        return SGD(params, lr=0.1, momentum=0.9)
    return Adam(params, lr=1e-2)


def accumulated(optimizer_name, batches, k, known_length=True, stop_after=None):
    """The loop from the page: micro-batch i scaled, a step at the end of every group, then `finish`."""
    model = make_model()
    optimizer = make_optimizer(optimizer_name, model.parameters())
    accumulation = GradientAccumulation(k, n_micro_batches=len(batches) if known_length else None)
    n_seen = 0
    for i, (x, y) in enumerate(batches[:stop_after]):
        accumulation.scale(torch.nn.functional.mse_loss(model(x), y), i).backward()
        n_seen = i + 1
        if accumulation.should_step(i):
            optimizer.step()
            optimizer.zero_grad()
    if accumulation.finish(model.parameters(), n_seen=n_seen):
        optimizer.step()
        optimizer.zero_grad()
    return model


def full_batches(optimizer_name, groups):
    """One step per group, on the concatenation of its micro-batches: the large batch we emulate."""
    model = make_model()
    optimizer = make_optimizer(optimizer_name, model.parameters())
    for group in groups:
        x = torch.cat([x for x, _ in group])
        y = torch.cat([y for _, y in group])
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
    return model


@pytest.mark.parametrize('optimizer_name', ['sgd', 'adam'])
@pytest.mark.parametrize('n, k', [(4, 4), (8, 4), (6, 4), (7, 3), (1, 4)])
@pytest.mark.parametrize('known_length', [True, False])
def test_accumulated_steps_equal_full_batch_steps_including_a_short_last_group(optimizer_name, n, k,
                                                                               known_length):
    batches = micro_batches(n)
    groups = [batches[start:start + k] for start in range(0, n, k)]
    difference = max_difference(accumulated(optimizer_name, batches, k, known_length).parameters(),
                                full_batches(optimizer_name, groups).parameters())
    assert difference <= 1e-6


def test_a_loop_that_stops_inside_a_group_still_steps_on_the_mean_of_what_ran():
    batches = micro_batches(8)
    expected = full_batches('sgd', [batches[:4], batches[4:6]])
    assert max_difference(accumulated('sgd', batches, 4, stop_after=6).parameters(), expected.parameters()) <= 1e-6


def test_scaling_a_short_group_by_one_over_k_would_be_caught():
    # The equality above can fail: a naive loop that always divides by k, and steps on the leftover
    # group without correction, ends measurably elsewhere.
    batches = micro_batches(6)
    model = make_model()
    optimizer = make_optimizer('sgd', model.parameters())
    for i, (x, y) in enumerate(batches):
        (torch.nn.functional.mse_loss(model(x), y) / 4).backward()
        if (i + 1) % 4 == 0 or i + 1 == len(batches):
            optimizer.step()
            optimizer.zero_grad()
    expected = full_batches('sgd', [batches[:4], batches[4:]])
    assert max_difference(model.parameters(), expected.parameters()) > 1e-3


def test_k_of_one_is_plain_training_bit_for_bit():
    batches = micro_batches(5)
    expected = full_batches('sgd', [[batch] for batch in batches])
    for a, b in zip(accumulated('sgd', batches, 1).parameters(), expected.parameters()):
        assert torch.equal(a, b)


def test_schedule_of_steps_and_group_sizes():
    known = GradientAccumulation(4, n_micro_batches=10)
    assert [i for i in range(10) if known.should_step(i)] == [3, 7, 9]
    assert [known.group_size(i) for i in range(10)] == [4] * 8 + [2] * 2
    unknown = GradientAccumulation(4)
    assert [i for i in range(10) if unknown.should_step(i)] == [3, 7]
    assert [unknown.group_size(i) for i in range(10)] == [4] * 10


def test_finish_leaves_gradients_alone_when_the_last_group_already_stepped():
    param = torch.zeros(2, requires_grad=True)
    param.grad = torch.ones(2)
    assert not GradientAccumulation(4, n_micro_batches=6).finish([param], n_seen=6)
    assert not GradientAccumulation(4).finish([param], n_seen=8)
    assert not GradientAccumulation(4).finish([param], n_seen=0)
    assert torch.equal(param.grad, torch.ones(2))


def test_finish_rescales_a_short_group_of_unknown_length_from_k_to_r():
    param = torch.zeros(2, requires_grad=True)
    param.grad = torch.full((2,), 3.)
    assert GradientAccumulation(4).finish([param], n_seen=6)
    assert torch.equal(param.grad, torch.full((2,), 6.))


def test_index_past_the_end_of_the_epoch_is_an_error():
    with pytest.raises(IndexError, match='10'):
        GradientAccumulation(4, n_micro_batches=10).scale(torch.ones(()), 10)


@pytest.mark.parametrize('kwargs, name, value', [(dict(k=0), 'k', 0), (dict(k=2.5), 'k', 2.5),
                                                 (dict(k=2, n_micro_batches=0), 'n_micro_batches', 0)])
def test_invalid_settings_name_the_parameter_and_value(kwargs, name, value):
    with pytest.raises(ValueError, match=f'Invalid {name} {value!r} for GradientAccumulation'):
        GradientAccumulation(**kwargs)



def test_forgetting_one_over_k_weighs_l2_decay_k_times_less():
    # The page's claim: without $\frac{1}{k}$, SGD with $L_2$ decay $\lambda$ and rate $\alpha$ takes the
    # step of torch's SGD with rate $k \alpha$ and decay $\lambda / k$ on the mean gradient.
    k, lr, decay = 4, 0.05, 0.3
    ours, reference = make_model(), make_model()
    optimizer = SGD(ours.parameters(), lr=lr, weight_decay=decay)
    torch_optimizer = torch.optim.SGD(reference.parameters(), lr=k * lr, weight_decay=decay / k)
    for x, y in micro_batches(k):
        torch.nn.functional.mse_loss(ours(x), y).backward()
        (torch.nn.functional.mse_loss(reference(x), y) / k).backward()
    optimizer.step()
    torch_optimizer.step()
    assert max_difference(list(ours.parameters()), list(reference.parameters())) <= 1e-6
