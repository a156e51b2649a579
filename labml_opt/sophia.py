r"""
---
title: Sophia-G optimizer
summary: Sophia, a clipped second-order optimizer that divides momentum by a cheap, periodically refreshed estimate of the Hessian diagonal, with the Gauss-Newton-Bartlett estimator explained.
---

# Sophia-G

Sophia, from [*Sophia: A Scalable Stochastic Second-order Optimizer for Language Model
Pre-training*](https://arxiv.org/abs/2305.14342) by Liu, Li, Hall, Liang and Ma (2023), divides
a momentum of the gradient by an estimate of the *curvature* of the loss rather than by the size
of the gradient, and clips the result so that no coordinate ever moves more than the learning
rate. **Sophia-G** is the variant whose curvature estimate comes from the Gauss-Newton-Bartlett
estimator below. The authors' code is [Liuhong99/Sophia](https://github.com/Liuhong99/Sophia).

## The update (Algorithm 3 of the paper)

The symbols:

* $\alpha$ is the learning rate (`lr`): the largest step any coordinate can take (the paper's $\eta_t$)
* $\beta_1$, $\beta_2$ are the decay rates of the two moving averages (`betas`)
* $\gamma$ (`rho`) scales the curvature in the denominator; the final version of the paper
  calls it $\gamma$, earlier versions and the authors' code $\rho$
* $\epsilon$ (`eps`) is a floor on the denominator
* $\lambda$ (`weight_decay`) is decoupled weight decay
* $B$ is the batch size (number of examples, or tokens) of the loss the curvature is estimated on
* $k$ is how often the curvature estimate is refreshed: every $k$ steps; the paper uses $k = 10$

Starting from $m_0 = 0$ and $h_{1-k} = 0$, step $t = 1, 2, \dots$ takes $\theta_{t-1}$ to $\theta_t$:

\begin{align}
m_t &\leftarrow \beta_1 m_{t-1} + (1 - \beta_1) g_t \\
h_t &\leftarrow \begin{cases}
  \beta_2 h_{t-k} + (1 - \beta_2) \hat{h}_t & \text{if } t \bmod k = 1 \\
  h_{t-1} & \text{otherwise}
\end{cases} \\
\theta_{t-1} &\leftarrow \theta_{t-1} - \alpha \lambda \theta_{t-1} \\
\theta_t &\leftarrow \theta_{t-1} - \alpha \operatorname{clip} \Big( \frac{m_t}{\max \{ \gamma h_t, \epsilon \}}, 1 \Big)
\end{align}

where $\operatorname{clip}(z, 1) = \max \{ \min \{ z, 1 \}, -1 \}$ per coordinate, $g_t$ is the
gradient at $\theta_{t-1}$, and $\hat{h}_t$ is a fresh estimate of the Hessian's diagonal at
$\theta_{t-1}$. There is no bias correction. (The paper writes $\theta_t$ for the parameter
*before* step $t$, so its $\theta_{t+1}$ is our $\theta_t$; here, as on every page, $\theta_t$ is
the parameter after step $t$.)

## Why it works

Newton's method steps by $-g / h$ along a coordinate with curvature $h$: a long step where the
loss is flat, a short one where it is sharp. Adam's $\sqrt{v_t}$ only sees the size of the
gradient, which is a poor stand-in for curvature: a sharp, narrow valley and a steep, straight
slope can have the same gradient. Dividing the momentum $m_t$ by $\gamma h_t$ adapts each
coordinate to its real curvature.

Pure Newton steps are dangerous, though. Where the estimate $h_t$ is tiny, stale, or the loss is
not convex, $m_t / h_t$ can be enormous. The clip bounds every coordinate's step by $\alpha$.
A clipped coordinate moves by exactly $\alpha$, $\theta_t = \theta_{t-1} - \alpha \operatorname{sign}(m_t)$:
sign descent with momentum. That is the *largest* step Sophia takes, and about the size of a
typical Adam step, not a smaller one: Adam's step is about $\alpha$ when its gradients are
consistent, less when they are noisy, and can reach a few times $\alpha$ ([Adam's page](adam.html)
works out how much). Where the curvature is known and large, the step is the smaller, Newton-like
$\alpha m_t / (\gamma h_t)$. How many coordinates are clipped is a useful diagnostic: the authors
advise tuning $\gamma$ so that a good share of coordinates, but not all, escape the clip.
`tests/optimizers/test_sophia.py` checks that clipped coordinates move by exactly $\alpha$ and the
others by $\alpha \frac{m_t}{\gamma h_t}$.

The curvature changes slowly, so it is estimated only every $k$ steps and averaged with
$\beta_2$. With $k = 10$ the extra cost is one backward pass every ten steps.

## The Gauss-Newton-Bartlett estimator

Take a classifier with logits $f(\theta, x)$, probabilities $p = \operatorname{softmax}(f)$
and cross-entropy loss $\ell(f, y)$. The Hessian of the loss with respect to $\theta$ is
$J^\top \frac{\partial^2 \ell}{\partial f^2} J$, with $J = \frac{\partial f}{\partial \theta}$,
plus a term that involves the second derivatives of $f$. The **Gauss-Newton** matrix keeps only
the first part:

$$G = J^\top \big( \operatorname{diag}(p) - p p^\top \big) J$$

It is positive semi-definite, so its diagonal is never negative, unlike the Hessian's where the
loss is not convex. Computing that diagonal exactly takes a backward pass per class and per
example. The trick is **Bartlett's identities** for a model's own distribution. Draw a label
$\hat{y} \sim p$ from the model itself. Then $\nabla_f \ell(f, \hat{y}) = p - e_{\hat{y}}$ has
mean zero (first identity) and covariance $\operatorname{diag}(p) - p p^\top$ (second identity).
Since $\nabla_\theta \ell = J^\top (p - e_{\hat{y}})$, its second moment is
$\mathbb{E} \big[ \nabla_\theta \ell \, \nabla_\theta \ell^\top \big] = G$, and on the diagonal,
for one example,

$$\mathbb{E}_{\hat{y}} \big[ \nabla_\theta \ell(f, \hat{y}) \odot \nabla_\theta \ell(f, \hat{y}) \big]
  = \operatorname{diag}(G)$$

For a batch of $B$ examples we only get the gradient of the *mean* sampled-label loss,
$\hat{g} = \frac{1}{B} \sum_b \nabla_\theta \ell(f(\theta, x_b), \hat{y}_b)$. Squaring it gives
$\frac{1}{B^2}$ times the sum of the per-example squares, plus cross terms; the labels are
drawn independently and each gradient has mean zero, so the cross terms vanish in expectation,
and

$$\hat{h} = B \cdot \hat{g} \odot \hat{g}, \qquad
  \mathbb{E} \big[ \hat{h} \big] = \frac{1}{B} \sum_{b=1}^{B} \operatorname{diag}(G_b)$$

where $G_b$ is $G$ for example $b$. That is an unbiased estimate of the Gauss-Newton diagonal of the mean loss from a single backward pass.
The factor $B$ is why `update_hessian` needs the batch size. The authors' code leaves $B$ out of
$h$ and multiplies by it in the update instead; the two agree while $B$ is constant.

The test `test_gnb_estimate_is_unbiased_for_the_gauss_newton_diagonal` checks this expectation
numerically against $G$ computed in closed form.

## When to call it

The paper refreshes $h$ at steps $t = 1, k+1, 2k+1, \dots$, *before* the update, at the same
$\theta_{t-1}$ the step's gradient is taken at. (The authors' training script refreshes just *after* the updates of steps
$k, 2k, \dots$ instead, so its first $k$ steps run with $h = 0$, that is, as clipped sign steps.)

[`train_with_sophia`](#train_with_sophia), at the bottom of this page, is the paper's loop,
runnable as it stands.
"""

import numbers
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from labml_opt.optimizer import GenericAdaptiveOptimizer, Numbers, Params, WeightDecay, as_weight_decay


class Sophia(GenericAdaptiveOptimizer):
    r"""
    ## Sophia-G optimizer

    `step()` takes the update with the current $h_t$; `update_hessian()` folds a new estimate
    $\hat{h}_t$ into it, from the gradients that a backward pass on [`gnb_loss`](#gnb_loss) left
    in `param.grad`.
    """

    # $h_t$ is updated by `update_hessian`, not by `step_param`: under `state_dtype` it stays in the
    # parameter's dtype
    full_precision_state = ('hessian',)

    def __init__(self, params: Params, lr: float = 1e-4, betas: Tuple[float, float] = (0.965, 0.99),
                 rho: float = 0.04, eps: float = 1e-15, weight_decay: Union[float, WeightDecay] = 0.1,
                 maximize: bool = False, defaults: Optional[Dict[str, Any]] = None,
                 *, state_dtype: Optional[torch.dtype] = None, kahan_sum: bool = False, seed: int = 0):
        r"""
        * `lr` is $\alpha$, the largest step a coordinate can take
        * `betas` is $(\beta_1, \beta_2)$: $\beta_1$ for $m_t$, $\beta_2$ for $h_t$
        * `rho` is $\gamma$ (the paper's $\gamma$, its code's `rho`)
        * `eps` is $\epsilon$; it must be positive, since $h$ starts at zero
        * `weight_decay` is $\lambda$: a float means decoupled decay, as in the paper; pass a
          [`WeightDecay`](optimizer.html#WeightDecay) for another rule
        * `maximize` ascends the objective instead of descending it
        * `state_dtype`, `kahan_sum` and `seed` keep the state in `torch.bfloat16`, or add to a
          `bfloat16` parameter with Kahan summation, as [low-precision state](low_precision.html) explains

        The defaults are those of the authors' code. `torch.optim` has no Sophia to follow.
        """
        self.check('rho', rho, rho >= 0, '>= 0')
        self.check('eps', eps, eps > 0, '> 0')
        self.weight_decay = as_weight_decay(weight_decay, decoupled=True)
        defaults = {} if defaults is None else defaults
        defaults = dict(defaults, **self.weight_decay.defaults(), lr=lr, betas=tuple(betas), rho=rho, eps=eps,
                        maximize=maximize)
        super().__init__(params, defaults, state_dtype=state_dtype, kahan_sum=kahan_sum, seed=seed)

    def init_state(self, state: Dict[str, Any], group: Dict[str, Any], param: nn.Parameter):
        """
        ### Initialize the state of a parameter

        * `step` is $t$, the number of updates this parameter has had
        * `exp_avg` is $m_t$, the moving average of gradients
        * `hessian` is $h_t$, the moving average of the Hessian-diagonal estimates
        """
        state['step'] = 0
        state['exp_avg'] = torch.zeros_like(param, memory_format=torch.preserve_format)
        state['hessian'] = torch.zeros_like(param, memory_format=torch.preserve_format)

    @torch.no_grad()
    def update_hessian(self, batch_size: int):
        r"""
        ### Refresh the Hessian-diagonal estimate

        Call this after `gnb_loss(logits).backward()`, with `param.grad` holding $\hat{g}$, the
        gradient of the mean sampled-label loss, and before the training loss's backward pass
        overwrites it.

        * `batch_size` is $B$, the number of examples (or tokens) that loss averaged over
        """
        self.check('batch_size', batch_size, isinstance(batch_size, numbers.Integral) and batch_size >= 1,
                   'an integer >= 1')
        for group in self.param_groups:
            _, beta2 = group['betas']
            for param in group['params']:
                if param.grad is None:
                    continue
                state = self.state[param]
                # Algorithm 3 refreshes $h$ before the first step, so the state may not exist yet.
                if len(state) == 0:
                    self.init_state(state, group, param)
                # $h_t \leftarrow \beta_2 h_{t-k} + (1 - \beta_2) \hat{h}_t$ with
                # $\hat{h}_t = B \cdot \hat{g} \odot \hat{g}$
                state['hessian'].mul_(beta2).addcmul_(param.grad, param.grad, value=(1 - beta2) * batch_size)

    def step_numbers(self, state: Dict[str, Any], group: Dict[str, Any]) -> Numbers:
        """
        ### The numbers of a step

        The group's hyper-parameters as they are, and the step counted.
        """
        # $t \leftarrow t + 1$
        state['step'] += 1
        beta1, _ = group['betas']
        return Numbers(self.weight_decay.numbers(group), lr=group['lr'], beta1=beta1, rho=group['rho'],
                       eps=group['eps'])

    def step_param(self, state: Dict[str, Any], numbers: Numbers, grad: torch.Tensor, param: nn.Parameter):
        r"""
        ### Update one parameter

        * `grad` is $g_t$
        * `param` is $\theta_{t-1}$, updated in place to $\theta_t$
        """
        # $\theta_{t-1} \leftarrow \theta_{t-1} - \alpha \lambda \theta_{t-1}$, before the update, as in the paper
        grad = self.weight_decay(param, grad, numbers)
        m, h = state['exp_avg'], state['hessian']
        # $m_t \leftarrow \beta_1 m_{t-1} + (1 - \beta_1) g_t$
        m.lerp_(grad, 1 - numbers.beta1)
        # $\max \{ \gamma h_t, \epsilon \}$; $\epsilon$ only matters where the curvature is unknown or zero
        denominator = torch.mul(h, numbers.rho).clamp_(min=numbers.eps)
        # $\operatorname{clip} \big( \frac{m_t}{\max \{ \gamma h_t, \epsilon \}}, 1 \big)$, computed in
        # the denominator's buffer
        clipped = torch.div(m, denominator, out=denominator).clamp_(-1., 1.)
        # $\theta_t \leftarrow \theta_{t-1} - \alpha \cdot \operatorname{clip}(\dots)$
        param.sub_(numbers.lr * clipped)

def gnb_loss(logits: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    r"""
    <a id="gnb_loss"></a>

    ### The Gauss-Newton-Bartlett loss

    The cross-entropy of `logits` against labels $\hat{y}_b \sim \operatorname{softmax}(f_b)$
    drawn from the model's own predictions, averaged over the $B$ rows:

    $$\hat{L}(\theta) = \frac{1}{B} \sum_{b=1}^{B} \ell \big( f(\theta, x_b), \hat{y}_b \big)$$

    Its gradient is $\hat{g}$. `logits` has the classes in its last dimension; any leading
    dimensions (batch, sequence) are flattened, so $B$ is `logits.numel() // logits.shape[-1]`.
    `generator` makes the sampling reproducible.
    """
    logits = logits.reshape(-1, logits.shape[-1])
    # The labels are data: no gradient flows through the sampling.
    with torch.no_grad():
        labels = torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=generator).squeeze(-1)
    return F.cross_entropy(logits, labels)


def train_with_sophia(model: nn.Module, optimizer: Sophia,
                      batches: Iterable[Tuple[torch.Tensor, torch.Tensor]], k: int = 10) -> List[float]:
    r"""
    <a id="train_with_sophia"></a>

    ### A worked example: the training loop

    One pass over `batches` of inputs and labels for a classifier `model` that returns logits;
    returns the training loss of each step. This is the loop of Algorithm 3: on steps
    $t = 1, k+1, 2k+1, \dots$ (those with $(t - 1) \bmod k = 0$) it refreshes $h$ at the current
    $\theta_{t-1}$ before updating. The forward pass is shared: the sampled-label loss is
    back-propagated through the same logits as the training loss, keeping the graph for it.

    For example, a logistic regression on 64 features and 10 classes, given an iterable of
    `(x, y)` mini-batches:

    ```python
    model = nn.Linear(64, 10)
    optimizer = Sophia(model.parameters(), lr=0.05, rho=0.05, weight_decay=0.)
    losses = train_with_sophia(model, optimizer, batches, k=10)
    ```
    """
    losses = []
    for t, (x, y) in enumerate(batches, start=1):
        logits = model(x)
        if (t - 1) % k == 0:
            # $\hat{g} = \nabla_\theta \hat{L}(\theta_{t-1})$ into `param.grad`, then
            # $h_t \leftarrow \beta_2 h_{t-k} + (1 - \beta_2) B \hat{g} \odot \hat{g}$
            optimizer.zero_grad()
            gnb_loss(logits).backward(retain_graph=True)
            optimizer.update_hessian(batch_size=logits.numel() // logits.shape[-1])
        # The training gradient $g_t$ must not be mixed with $\hat{g}$.
        optimizer.zero_grad()
        loss = F.cross_entropy(logits, y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
