r"""
---
title: How an optimizer is used
summary: Parameters and param groups, zero_grad, backward, step, the optimizer's state and state_dict, shown on a tiny model; runs top to bottom.
---

# How an optimizer is used

An optimizer changes a model's parameters so as to lower a loss. Every optimizer on this site,
like every `torch.optim` optimizer, does it through the same few calls, and this page goes
through them on a model small enough to print. The rule behind all of them is gradient descent:

$$\theta_{t} = \theta_{t-1} - \alpha \nabla_\theta \mathcal{L}(\theta_{t-1})$$

where $\alpha$ is the learning rate; the other optimizers change how the gradient becomes a step.

The page is a script: run it with

```bash
python -m labml_opt.tutorials.optimizer_mechanics
```

and every claim below is checked by an `assert` as it runs.
"""

import io

import torch
from torch import nn

from labml_opt import SGD, Adam

torch.manual_seed(0)

# ## Parameters
#
# A model's parameters are tensors with `requires_grad=True`: autograd will compute
# $\nabla_\theta \mathcal{L}$ for each of them. This model has a hidden layer of 10 units
# and one output squashed into $(0, 1)$.
model = nn.Sequential(nn.Linear(3, 10), nn.ReLU(), nn.Linear(10, 1), nn.Sigmoid())
for name, param in model.named_parameters():
    print(f'{name:10} {tuple(param.shape)}')
assert all(param.requires_grad for param in model.parameters())

# ## Handing the parameters to an optimizer
#
# `model.parameters()` is a generator, which can be read only once; the optimizer reads it
# into a list and keeps references to the tensors themselves, so it updates the model's own
# parameters, in place. The hyper-parameters end up in a *param group*: a dict holding
# the parameters and the values that apply to them.
optimizer = SGD(model.parameters(), lr=0.1)
print(optimizer.param_groups[0].keys())
assert optimizer.param_groups[0]['params'][0] is model[0].weight
assert optimizer.param_groups[0]['lr'] == 0.1

# Several groups give different parts of the model different hyper-parameters; a group that
# does not name one gets the default passed after the groups. Here the first layer learns
# ten times faster than the last.
grouped = SGD([{'params': model[0].parameters(), 'lr': 1.0},
               {'params': model[2].parameters()}], lr=0.1)
assert [group['lr'] for group in grouped.param_groups] == [1.0, 0.1]

# A learning-rate schedule is nothing more than code that writes `group['lr']` between steps;
# that is all `torch.optim.lr_scheduler` and our [`ParamScheduler`](../experiments/learner.html#ParamScheduler) do.

# ## Data and loss
#
# Twenty points in three dimensions, the second half shifted, with labels 0 and 1; the
# binary cross-entropy measures how far the predicted probabilities are from the labels.
inputs = torch.randn(20, 3)
inputs[10:] += 1.
targets = torch.zeros(20, 1)
targets[10:] = 1.
loss_func = nn.BCELoss()

# ## Gradients: `zero_grad` and `backward`
#
# Before any backward pass the parameters have no gradient at all.
assert model[0].weight.grad is None

# `loss.backward()` computes $\nabla_\theta \mathcal{L}$ and stores it in each parameter's `.grad`.
loss = loss_func(model(inputs), targets)
loss.backward()
first_grad = model[0].weight.grad.clone()
print('loss', loss.item())

# A second backward pass *adds* to `.grad` instead of replacing it. This is what makes gradient
# accumulation possible, and what makes forgetting `zero_grad` a bug: the gradients of every
# earlier batch would be mixed into the step.
loss_func(model(inputs), targets).backward()
assert torch.allclose(model[0].weight.grad, 2 * first_grad)

# `zero_grad()` clears them; by default it sets `.grad` to `None`, which frees the memory and
# lets the next backward write rather than add.
optimizer.zero_grad()
assert model[0].weight.grad is None

# ## One step
#
# With fresh gradients, `step()` applies the update rule. For plain SGD it is
# $\theta \leftarrow \theta - \alpha g$, which we can check by hand.
loss = loss_func(model(inputs), targets)
loss.backward()
before = model[0].weight.detach().clone()
optimizer.step()
assert torch.allclose(model[0].weight, before - 0.1 * model[0].weight.grad)

# `step()` leaves the gradients where they are; the next iteration's `zero_grad()` clears them.
assert model[0].weight.grad is not None

# ## A training loop
#
# Those three calls, in that order, are the whole loop: clear the old gradients, compute
# new ones, step.
losses = []
for _ in range(100):
    optimizer.zero_grad()
    loss = loss_func(model(inputs), targets)
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
print(f'loss {losses[0]:.4f} -> {losses[-1]:.4f}')
assert losses[-1] < losses[0]

# ## What the state holds
#
# Plain SGD needs nothing but the current gradient. Most optimizers also remember something
# about past gradients, per parameter, in `optimizer.state[param]`. SGD with momentum keeps
# a velocity, `momentum_buffer`; [Adam](../adam.html) keeps a step count and two moving averages,
# $m_t$ (`exp_avg`) and $v_t$ (`exp_avg_sq`).
adam = Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999))
adam.zero_grad()
loss_func(model(inputs), targets).backward()
adam.step()
state = adam.state[model[0].weight]
print(sorted(state))
# After one step, $m_1 = (1 - \beta_1) g_1$ and $v_1 = (1 - \beta_2) g_1^2$.
grad = model[0].weight.grad
assert state['step'] == 1
assert torch.allclose(state['exp_avg'], 0.1 * grad)
assert torch.allclose(state['exp_avg_sq'], 0.001 * grad ** 2)

# The state is created lazily, at a parameter's first step, and is as large as the
# parameters themselves, once per moving average: Adam's state is twice the size of the
# parameters, so parameters and state together take three times the parameters' memory
# (four with the gradients).
assert all(state[key].shape == model[0].weight.shape for key in ('exp_avg', 'exp_avg_sq'))

# ## Saving and loading: `state_dict`
#
# `state_dict()` holds the param groups' hyper-parameters and the per-parameter state. A
# tensor's identity does not survive being saved, so parameters appear as their positions,
# in the order the optimizer received them.
saved = adam.state_dict()
print(saved['param_groups'][0]['params'], sorted(saved['state'][0]))
assert saved['param_groups'][0]['params'] == [0, 1, 2, 3]

# To resume training, save the model's `state_dict` and the optimizer's together, and load them
# into a model and an optimizer built the same way.
buffer = io.BytesIO()
torch.save({'model': model.state_dict(), 'optimizer': saved}, buffer)
buffer.seek(0)
checkpoint = torch.load(buffer)
copy = nn.Sequential(nn.Linear(3, 10), nn.ReLU(), nn.Linear(10, 1), nn.Sigmoid())
copy.load_state_dict(checkpoint['model'])
copy_adam = Adam(copy.parameters(), lr=1e-3, betas=(0.9, 0.999))
copy_adam.load_state_dict(checkpoint['optimizer'])

# With the moving averages restored, the copy takes exactly the step the original takes.
# Without them, Adam would restart its bias correction from step one and step differently.
for net, opt in ((model, adam), (copy, copy_adam)):
    opt.zero_grad()
    loss_func(net(inputs), targets).backward()
    opt.step()
for ours, theirs in zip(model.parameters(), copy.parameters()):
    assert torch.equal(ours, theirs)
print('the restored optimizer takes the same step')
