r"""
---
title: Prodigy optimizer
summary: An annotated PyTorch implementation of Prodigy, Adam whose learning rate is estimated as it trains, from a lower bound on the distance to the solution that grows as fast as the evidence allows.
---

# Prodigy

Prodigy, from [*Prodigy: An Expeditiously Adaptive Parameter-Free Learner*](https://arxiv.org/abs/2306.06101)
by Mishchenko and Defazio (2023, ICML 2024), is [Adam](adam.html) without a learning rate to
tune. It estimates one as it trains, and its `lr` stays at $1$. It is a common choice where a
learning-rate sweep is too expensive, such as fine-tuning Stable Diffusion with LoRA (kohya's
`sd-scripts` offers it), and it comes close to hand-tuned Adam on the paper's benchmarks, from
logistic regression to ViT, RoBERTa and GPT pre-training.

## The problem: the best step size needs the distance to the solution

For a convex loss with gradients of size up to $G$, the best fixed step size of gradient descent
over $n$ steps is $\frac{D}{G \sqrt{n}}$, where $D = \lVert \theta_0 - \theta_* \rVert$ is the
distance from the start to the solution. $G$ can be measured as we go (Adagrad and Adam do it, with
their sums of squared gradients), but $D$ cannot: it is what a learning-rate sweep searches for.
Prodigy, like D-Adaptation before it, keeps an estimate $d_t$ of $D$ that is **provably never too
large** and grows as the gradients show that the solution is further away.

## The lower bound

For a convex $f$ and its minimiser $\theta_*$, each gradient satisfies
$\langle g_i, \theta_i - \theta_* \rangle \ge f(\theta_i) - f(\theta_*) \ge 0$. Weigh the gradients
by any $w_i \ge 0$ and sum, with $\sigma = \sum_i w_i g_i$:

\begin{align}
\sum_i w_i \langle g_i, \theta_0 - \theta_i \rangle &\le \sum_i w_i \langle g_i, \theta_0 - \theta_* \rangle \\
  &= \langle \sigma, \theta_0 - \theta_* \rangle \le \lVert \sigma \rVert_1 \lVert \theta_0 - \theta_* \rVert_\infty
\end{align}

So $\hat{d} = \frac{\sum_i w_i \langle g_i, \theta_0 - \theta_i \rangle}{\lVert \sigma \rVert_1}$ is at most
$D_\infty = \lVert \theta_0 - \theta_* \rVert_\infty$, the distance in the largest coordinate, which is
the one that matters to a method like Adam that steps every coordinate by about the same amount
(hence the $\ell_1$ norm of $\sigma$). Both sums are cheap to keep: the numerator is a dot product per
step, and $\sigma$ a tensor of the parameter's shape. While the iterates have not moved far, the
numerator is small; as they move in a consistent direction, it grows, and so does $\hat{d}$.

The paper proves this bound, and that with it the method converges at the rate of a step size
that knows $D$, but for a factor of $O(\sqrt{\log(D / d_0)})$; it gives no constant for how close
below $D$ the estimate comes. `tests/optimizers/test_prodigy.py` checks the bound on convex
problems whose solution is $10^{-3}$, $1$ and $10^3$ away: $d_t$ never exceeds $D_\infty$, and it
rises from $d_0 = 10^{-6}$ to within a factor of ten of it (to between $0.12 D_\infty$ and
$0.24 D_\infty$, where the problem is solved and the gradients stop pushing it up).

## The update

With $\beta_3 = \sqrt{\beta_2}$ unless given, $\alpha$ the `lr` (a multiplier, $1$ by default), and for
the step $t$ the step size $\alpha d_t$ (times Adam's $\frac{\sqrt{1 - \beta_2^t}}{1 - \beta_1^t}$ with
`use_bias_correction`), one step is, for every parameter, with its start $\theta_0$:

\begin{align}
N_t &\leftarrow \beta_3 N_{t-1} + \frac{d_t}{d_0} \alpha d_t \langle g_t, \theta_0 - \theta_{t-1} \rangle \\
\sigma_t &\leftarrow \beta_3 \sigma_{t-1} + \frac{d_t}{d_0} \alpha d_t \, g_t \\
\hat{d}_{t+1} &\leftarrow \frac{N_t}{\lVert \sigma_t \rVert_1}, \qquad d_{t+1} \leftarrow \max(d_t, \hat{d}_{t+1}) \\
m_t &\leftarrow \beta_1 m_{t-1} + (1 - \beta_1) d_t \, g_t \\
v_t &\leftarrow \beta_2 v_{t-1} + (1 - \beta_2) d_t^2 \, g_t^2 \\
\theta_t &\leftarrow \theta_{t-1} - \alpha d_t \frac{m_t}{\sqrt{v_t} + d_{t+1} \epsilon}
\end{align}

$N_t$ and $\lVert \sigma_t \rVert_1$ are sums over **every parameter of every group**: there is one
estimate $d_t$ for the whole model. $m_t$ and $v_t$ average $d_t g_t$ rather than $g_t$, so that a
gradient seen when the estimate was small counts less once it has grown: $\frac{m_t}{\sqrt{v_t}}$ is
Adam's ratio with each gradient weighted by the estimate of its time.

The paper weighs $N_t$ and $\sigma_t$ by $(1 - \beta_3) \alpha d_t^2$; the reference by
$\frac{d_t}{d_0} \alpha d_t$, a constant factor $\frac{1}{(1 - \beta_3) d_0}$ away, which cancels in
$\hat{d}$ and keeps the sums away from the smallest floats while $d_t$ is still near $d_0$.

## The reference implementation

The arguments and defaults are those of [`prodigyopt.Prodigy`](https://github.com/konstmish/prodigy)
(PyPI `prodigyopt`), the authors' code, and the tests hold this class to it; it is the paper's
algorithm with two choices of its own: $\epsilon$ in the denominator is scaled by the new estimate
$d_{t+1}$, not $d_t$, and $d_{t+1} = \min(\max_{i \le t+1} \hat{d}_i, \, d_t \cdot \texttt{growth\_rate})$,
which with the default `growth_rate` of $\infty$ is the paper's $\max(d_t, \hat{d}_{t+1})$. Its
options:

* `weight_decay` $\lambda$ is decoupled by default (`decouple=True`), scaled by the step size:
  $\theta \leftarrow \theta (1 - \lambda \alpha d_t)$. `decouple=False` adds $\lambda \theta$ to the
  gradient, of the estimate's sums too. (The reference adds it to `param.grad` itself; we leave
  your gradient as it was.)
* `safeguard_warmup=True` leaves $\alpha$ out of $\sigma_t$'s weight, so that a learning-rate
  warm-up, which makes $\alpha$ small early on, does not make $\lVert \sigma_t \rVert_1$ small and
  $\hat{d}$ large.
* `slice_p` $= p > 1$ keeps $\theta_0$ and $\sigma$ for every $p$-th element only, and estimates from
  them: less memory, an approximation.
* `d_coef` multiplies $\hat{d}$, the one knob the authors suggest turning (0.5 to 2).
* Every group must have the same `lr`, or `lr = 0`; a group with `lr = 0` adds nothing to the
  estimate and its averages stand still. $\beta_1$, $\beta_2$, $\beta_3$, `d_coef`, `growth_rate`
  and `decouple` are read from the first group.
* `fsdp_in_use` sums the estimate across processes with a GPU all-reduce; this package is for the
  CPU, so it must be `False`. Under FSDP2 it is not needed here: the sums are taken over whole
  tensors (below).

The step count $t$ of the bias correction is the first group's, `k`, as in the reference.

## Memory and time

Four tensors of state per parameter with `slice_p=1`: $m$, $v$, $\sigma$ and $\theta_0$, 16 bytes
per `float32` parameter, twice Adam's. The estimate needs its sums over the whole model before any
parameter moves, so a step is two passes over memory. The first, [`accumulate`](#accumulate),
reads $g$, $\theta$, $\theta_0$ and $\sigma$ and writes $\sigma$, returning each parameter's two
sums; the second, `step_param`, reads $\theta$, $g$, $m$ and $v$ and writes $\theta$, $m$ and $v$.
That is 12 tensors of 4 bytes, 48 bytes per parameter, and no order of the work does with fewer:
$\theta_t$ needs $d_{t+1}$, which needs every parameter's sums, so $\theta$ and $g$ are read once
before the estimate and once after it (moving $m$ and $v$ into the first pass would save a read of
$g$ but cost a write and a read of $m$ and $v$). For large groups [the fast path](fast.html#sums)
compiles both passes from the code below, each into one loop; the sums are added up in Python,
one pair per parameter. The reference runs both halves one operation at a time, about 30 passes
over a parameter's memory, and this code as written about 20. The table with every optimizer,
`prodigyopt`'s times among them, is in [the benchmark](fast.html#benchmark).

**How far it reaches.** `step_param` alone is element-wise. But a parameter's part of the
estimate is a dot product and a sum over the whole tensor, of every `slice_p`-th element of it
flattened, and its $\sigma$ and $\theta_0$ are kept in that flattened order, which one process's
block of rows does not have. So Prodigy's [reach](optimizer.html#reach) is `'tensor'`: on one
process a large group's two passes are compiled loops over whole tensors, and under FSDP2 each parameter is
[gathered whole](distributed.html#whole-tensors) twice per step, once for its part of the estimate
and once for its update, between which every other parameter must add its part. The sums are
then over whole tensors on every process, and two processes estimate what one does.

## What to tune

* Nothing, first: `lr=1`. If training is unstable, a smaller `lr` or `d_coef` scales the estimated
  step down; with a learning-rate schedule, use `safeguard_warmup=True` and keep the schedule's
  peak at 1.
* `weight_decay` as for AdamW (it is decoupled, and scaled by the estimated step).
* `use_bias_correction=True` makes the first steps smaller, as Adam's correction does.
* `growth_rate` around 1.02 caps how fast $d_t$ may grow, a warm-up of its own.
"""

import math
from typing import Any, Callable, Dict, Optional, Tuple

import torch
from torch import nn

from labml_opt import fast
from labml_opt.optimizer import GenericAdaptiveOptimizer, Numbers, Params


def as_number(value, like: torch.Tensor) -> torch.Tensor:
    r"""
    `value` as a 0-d tensor of `like`'s dtype, for `a.addcmul_(b, as_number(c, a))`: that is
    $a + c b$ rounded once, as the reference's `a.add_(b, alpha=c)` computes it, in a form that
    also takes $c$ as a tensor, as [the fast path](fast.html) records it.
    """
    return torch.as_tensor(value, dtype=like.dtype)


class Prodigy(GenericAdaptiveOptimizer):
    """
    ## Prodigy optimizer

    `step` computes the estimate for the whole model, in [`accumulate`](#accumulate) for each
    parameter, and then takes the template's step of every group with it.
    """

    # Its estimate of the distance sums products of real numbers: complex parameters are refused
    supports_complex = False

    # Under `state_dtype`, $x_0$, the first weights, and $\sigma$, which [`accumulate`](#accumulate)
    # updates before the step, stay in the parameter's dtype
    full_precision_state = ('p0', 's')

    def __init__(self, params: Params, lr: float = 1.0, betas: Tuple[float, float] = (0.9, 0.999),
                 beta3: Optional[float] = None, eps: float = 1e-8, weight_decay: float = 0, decouple: bool = True,
                 use_bias_correction: bool = False, safeguard_warmup: bool = False, d0: float = 1e-6,
                 d_coef: float = 1.0, growth_rate: float = float('inf'), fsdp_in_use: bool = False,
                 slice_p: int = 1,
                 *, state_dtype: Optional[torch.dtype] = None, kahan_sum: bool = False, seed: int = 0):
        r"""
        * `lr` is $\alpha$, a multiplier of the estimated step size
        * `betas` are $(\beta_1, \beta_2)$, and `beta3` is $\beta_3$ ($\sqrt{\beta_2}$ when `None`)
        * `eps` is $\epsilon$, `weight_decay` is $\lambda$, decoupled with `decouple`
        * `d0` is the first estimate $d_0$, `d_coef` multiplies every estimate, and `growth_rate`
          bounds $\frac{d_{t+1}}{d_t}$
        * `use_bias_correction`, `safeguard_warmup`, `fsdp_in_use` and `slice_p` are described above
        * `state_dtype`, `kahan_sum` and `seed` keep the state in `torch.bfloat16`, or add to a
          `bfloat16` parameter with Kahan summation, as [low-precision state](low_precision.html) explains

        The group keys `d`, `d_max`, `d_numerator` ($N$) and `k` ($t - 1$) hold the estimate and
        count, in every group, as in the reference.
        """
        self.check('fsdp_in_use', fsdp_in_use, fsdp_in_use is False, 'False (its all-reduce needs a GPU)')
        defaults = dict(lr=lr, betas=betas, beta3=beta3, eps=eps, weight_decay=weight_decay,
                        d=d0, d0=d0, d_max=d0, d_numerator=0.0, d_coef=d_coef, k=0, growth_rate=growth_rate,
                        use_bias_correction=use_bias_correction, decouple=decouple,
                        safeguard_warmup=safeguard_warmup, fsdp_in_use=fsdp_in_use, slice_p=slice_p)
        super().__init__(params, defaults, state_dtype=state_dtype, kahan_sum=kahan_sum, seed=seed)

    def check_hyperparameters(self, defaults: Dict[str, Any]):
        """The common checks, where the reference needs $\\alpha$, $\\epsilon$ and $d_0$ above zero."""
        for name in ('lr', 'eps', 'd0', 'd_coef'):
            value = defaults[name]
            if isinstance(value, torch.Tensor):
                self.check(name, value, value.numel() == 1, 'a number or a 1-element tensor')
            self.check(name, value, bool(value > 0), '> 0')
        super().check_hyperparameters(defaults)
        beta3 = defaults['beta3']
        self.check('beta3', beta3, beta3 is None or 0 <= beta3 <= 1, 'None or in [0, 1]')
        self.check('growth_rate', defaults['growth_rate'], defaults['growth_rate'] >= 1, '>= 1')
        slice_p = defaults['slice_p']
        self.check('slice_p', slice_p, isinstance(slice_p, int) and slice_p >= 1, 'an integer >= 1')

    def reach(self, group: Dict[str, Any]) -> str:
        """The estimate's sums over each whole tensor: `'tensor'` (see above)."""
        return 'tensor'

    def init_state(self, state: Dict[str, Any], group: Dict[str, Any], param: nn.Parameter):
        r"""
        ### Initialize the state of a parameter

        * `s` is $\sigma$, for every `slice_p`-th element of the flattened parameter
        * `p0` is $\theta_0$ for the same elements (a zero, if the parameter starts at zero)
        * `exp_avg` is $m$ (none with $\beta_1 = 0$) and `exp_avg_sq` is $v$
        """
        state['step'] = 0
        sliced = param.detach().flatten()[::group['slice_p']]
        state['s'] = torch.zeros_like(sliced)
        state['p0'] = sliced.clone() if param.any() else torch.tensor(0, device=param.device, dtype=param.dtype)
        if group['betas'][0] > 0:
            state['exp_avg'] = torch.zeros_like(param, memory_format=torch.preserve_format)
        state['exp_avg_sq'] = torch.zeros_like(param, memory_format=torch.preserve_format)

    @torch.no_grad()
    def step(self, closure: Optional[Callable[[], float]] = None):
        r"""
        ### One step

        The numbers of the whole step come from the first group, and the one learning rate $\alpha$
        from all of them.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        first = self.param_groups[0]
        beta1, beta2 = first['betas']
        beta3 = first['beta3'] if first['beta3'] is not None else math.sqrt(beta2)
        lr = max(group['lr'] for group in self.param_groups)
        for group in self.param_groups:
            self.check('lr', group['lr'], group['lr'] in (lr, 0.), f'{lr} (the largest of any group) or 0')
        d, k = first['d'], first['k']
        bias_correction = math.sqrt(1 - beta2 ** (k + 1)) / (1 - beta1 ** (k + 1)) if first['use_bias_correction'] else 1
        # $\alpha d_t$ (with Adam's bias correction, if asked)
        dlr = d * lr * bias_correction
        estimate = Numbers(beta1=beta1, beta2=beta2, beta3=beta3, d=d, dlr=dlr)

        # $N_t = \beta_3 N_{t-1} + \dots$ and $\lVert \sigma_t \rVert_1$, summed over every parameter
        numerator, denominator = first['d_numerator'] * beta3, 0.
        for group in self.param_groups:
            params = [param for param in group['params'] if param.grad is not None]
            for param in params:
                if param.grad.is_sparse:
                    raise RuntimeError(f'{type(self).__name__} does not support sparse gradients')
                if param.is_complex():
                    raise RuntimeError(f'{type(self).__name__} does not support complex parameters '
                                       f'(got one of dtype {param.dtype})')
                state = self.state[param]
                if len(state) == 0:
                    self.init_param_state(state, group, param)
            if group['lr'] == 0:
                continue
            # The group's compiled loops ([the fast path](fast.html#sums)), or `None`
            compiled = fast.compiled_step(self, group, params)
            numbers = self.estimate_numbers(group, estimate)
            for param in params:
                # On whole tensors, gathered from their shards under FSDP2
                terms = self.on_whole_tensors(lambda whole_state, grad, whole: self.accumulate_sliced(
                    compiled, whole_state, group, numbers, grad, whole), self.state[param], param.grad, param)
                # $\frac{d_t}{d_0} \alpha d_t \langle g_t, \theta_0 - \theta_{t-1} \rangle$, this parameter's term of $N_t$
                numerator += (d / group['d0']) * dlr * terms[0]
                denominator += terms[1]
        # No gradient has reached $\sigma$ yet: nothing to estimate from, and no step
        if denominator == 0:
            return loss

        # $\hat{d}_{t+1} = c \frac{N_t}{\lVert \sigma_t \rVert_1}$ for `d_coef` $c$
        d_hat = first['d_coef'] * numerator / denominator
        # The first estimate replaces $d_0$ (with a bounded `growth_rate` it could not otherwise),
        # and then $d_{t+1} = \min(\max_i \hat{d}_i, d_t \cdot \texttt{growth\_rate})$
        if d == self.param_groups[-1]['d0']:
            d = max(d, d_hat)
        d_max = max(first['d_max'], d_hat)
        d = min(d_max, d * first['growth_rate'])
        self._estimate = Numbers(estimate, d_next=d, decouple=first['decouple'])
        for group in self.param_groups:
            group.update(d_numerator=numerator, d_denom=denominator, d=d, d_max=d_max, d_hat=d_hat)
            self.step_group(group)
            group['k'] += 1
        return loss

    def estimate_numbers(self, group: Dict[str, Any], estimate: Numbers) -> Numbers:
        r"""The numbers of one group's part of the estimate."""
        d, d0 = estimate.d, group['d0']
        return Numbers(beta3=estimate.beta3,
                       # $\frac{d_t}{d_0} \alpha d_t$, or with `safeguard_warmup` $\frac{d_t}{d_0} d_t$, without $\alpha$
                       sigma_weight=(d / d0) * d if group['safeguard_warmup'] else (d / d0) * estimate.dlr)

    def accumulate_sliced(self, compiled: Optional[fast.CompiledStep], state: Dict[str, Any], group: Dict[str, Any],
                          numbers: Numbers, grad: torch.Tensor, param: nn.Parameter) -> Tuple[float, float]:
        r"""
        `accumulate` of every `slice_p`-th element of the flattened parameter and gradient, views
        that share their memory: the elements that $\sigma$ and $\theta_0$ are kept for. With
        `slice_p = 1` they are the whole tensors, contiguous, and the compiled loop takes them;
        otherwise `accumulate` runs as written. So does it for a parameter that started at zero,
        whose $\theta_0$ is one 0-d zero, not a tensor of its elements that a flat loop could read.

        Coupled weight decay, which is not the default, is added to the whole gradient first, as the
        reference adds it: a dot product of every `slice_p`-th element of a tensor adds in another
        order than one of a tensor of those elements alone.
        """
        if group['weight_decay'] != 0 and not self.param_groups[0]['decouple']:
            # $g_t + \lambda \theta_{t-1}$, in a new tensor: `param.grad` is yours
            grad = grad.addcmul(param, as_number(group['weight_decay'], param))
        slice_p = group['slice_p']
        # (in the dtype of $\sigma$ and $\theta_0$: `float32` for a `bfloat16` parameter stepped in
        # `float32`, see `full_precision_state`, and otherwise the parameter's own)
        wide = state['s'].dtype
        grad, param = grad.flatten()[::slice_p].to(wide), param.detach().flatten()[::slice_p].to(wide)
        flat = compiled is not None and state['p0'].shape == param.shape
        sums = compiled.sums('accumulate', state, numbers, grad, param) if flat else None
        if sums is None:
            sums = self.accumulate(state, numbers, grad, param)
        return sums[0].item(), sums[1].item()

    def accumulate(self, state: Dict[str, Any], numbers: Numbers, grad: torch.Tensor,
                   param: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        r"""
        <a id="accumulate"></a>

        ### One parameter's part of the estimate

        `grad` (with coupled decay added) and `param` are the flattened elements that $\sigma$ and
        $\theta_0$ are kept for.
        Updates $\sigma$ and returns, as 0-d tensors, $\langle g_t, \theta_0 - \theta_{t-1} \rangle$,
        of which $N_t$'s term is a multiple, and $\lVert \sigma_t \rVert_1$. Both are sums over the
        whole tensor, which the estimate needs before any parameter moves: on [the fast
        path](fast.html#sums) this is one compiled pass of its own, before the update's.
        """
        # $\langle g_t, \theta_0 - \theta_{t-1} \rangle$
        dot = torch.dot(grad, state['p0'] - param)
        # $\sigma_t = \beta_3 \sigma_{t-1} + \frac{d_t}{d_0} \alpha d_t \, g_t$, or with
        # `safeguard_warmup` $\frac{d_t}{d_0} d_t \, g_t$, without $\alpha$
        s = state['s']
        s.mul_(numbers.beta3).addcmul_(grad, as_number(numbers.sigma_weight, s))
        # $\lVert \sigma_t \rVert_1$
        return dot, s.abs().sum()

    def step_numbers(self, state: Dict[str, Any], group: Dict[str, Any]) -> Numbers:
        r"""
        ### The numbers of step $t$

        The estimate's, with this group's $\epsilon$, $\lambda$ and whether it has an $\alpha$.
        """
        state['step'] += 1
        estimate = self._estimate
        decay = group['weight_decay']
        return Numbers(beta1=estimate.beta1, beta2=estimate.beta2, d=estimate.d, dlr=estimate.dlr,
                       eps_d=estimate.d_next * group['eps'], weight_decay=decay,
                       # $\lambda \alpha d_t$, the decoupled decay of this step
                       decay_rate=decay * estimate.dlr,
                       l2_decay=decay != 0 and not estimate.decouple,
                       decoupled_decay=decay != 0 and estimate.decouple,
                       averages=group['lr'] > 0, momentum=estimate.beta1 > 0, d_step=estimate.dlr * estimate.d_next)

    def step_param(self, state: Dict[str, Any], numbers: Numbers, grad: torch.Tensor, param: nn.Parameter):
        r"""
        ### Update one parameter

        Element-wise, with the estimate fixed: compiled on the fast path.
        """
        if numbers.l2_decay:
            # $g_t + \lambda \theta_{t-1}$
            grad = grad.addcmul(param, as_number(numbers.weight_decay, param))
        v = state['exp_avg_sq']
        if numbers.averages:
            if numbers.momentum:
                # $m_t = \beta_1 m_{t-1} + (1 - \beta_1) d_t g_t$
                state['exp_avg'].mul_(numbers.beta1).addcmul_(grad, as_number(numbers.d * (1 - numbers.beta1), grad))
            # $v_t = \beta_2 v_{t-1} + (1 - \beta_2) d_t^2 g_t^2$
            v.mul_(numbers.beta2).addcmul_(grad * (numbers.d * numbers.d * (1 - numbers.beta2)), grad)
        # $\sqrt{v_t} + d_{t+1} \epsilon$
        denominator = v.sqrt() + numbers.eps_d
        if numbers.decoupled_decay:
            # $\theta_{t-1} \leftarrow \theta_{t-1} - \lambda \alpha d_t \theta_{t-1}$
            param.addcmul_(param, as_number(-numbers.decay_rate, param))
        if numbers.momentum:
            # $\theta_t = \theta_{t-1} - \alpha d_t \frac{m_t}{\sqrt{v_t} + d_{t+1} \epsilon}$
            param.sub_(numbers.dlr * state['exp_avg'] / denominator)
        else:
            # Without momentum, the reference steps by the gradient, with the new estimate:
            # $\alpha d_t d_{t+1} \frac{g_t}{\sqrt{v_t} + d_{t+1} \epsilon}$
            param.sub_(numbers.d_step * grad / denominator)
