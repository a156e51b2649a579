r"""
---
title: LAMB optimizer
summary: An annotated PyTorch implementation of LAMB, Adam with a trust ratio per layer, which makes every layer's step the same fraction of its weights and lets BERT train with batches of 64 thousand.
---

# LAMB

LAMB (*Layer-wise Adaptive Moments for Batch training*), from [*Large Batch Optimization for
Deep Learning: Training BERT in 76 Minutes*](https://arxiv.org/abs/1904.00962) by You, Li,
Reddi, Hseu, Kumar, Bhojanapalli, Song, Demmel, Keutzer and Hsieh (2019), is [Adam](adam.html)
with one more normalisation: each layer's step is rescaled so that its size is a fixed fraction of
the layer's weights. With it BERT pre-trains with batches of 32 to 64 thousand sequences, and in
76 minutes on a TPU pod instead of three days. It is an optimizer of large-batch training
(NVIDIA's BERT recipes; the ResNet-50 recipes of Wightman et al.'s *ResNet strikes back*), and the
layer-wise idea behind it, the *trust ratio*, came from LARS, its SGD predecessor.

## The problem: one learning rate for layers of every size

To train with batches a hundred times larger in a hundred times fewer steps, each step must go
further, and the learning rate must rise. But a rate that moves one layer's weights by a useful
fraction moves another's by far too much: layers differ in the size of their weights, and in the
size of their updates, by orders of magnitude, and the layer whose step is largest relative to its
weights diverges first. Adam's division by $\sqrt{v_t}$ evens out the step of each *coordinate*,
not its size relative to the weights it changes. LAMB measures, per layer (per parameter tensor
$l$), the ratio of the weights' norm to the step's norm, and multiplies the step by it.

## The update

With Adam's moments, learning rate $\alpha$, weight decay $\lambda$, and for each tensor $l$ its
weights $\theta^{(l)}$, the paper's Algorithm 2 is

\begin{align}
m_t &\leftarrow \beta_1 m_{t-1} + (1 - \beta_1) g_t \\
v_t &\leftarrow \beta_2 v_{t-1} + (1 - \beta_2) g_t^2 \\
\omega_t &\leftarrow \frac{\hat{m}_t}{\sqrt{\hat{v}_t} + \epsilon} + \lambda \theta_{t-1} \\
q^{(l)}_t &\leftarrow \frac{\phi \big( \lVert \theta^{(l)}_{t-1} \rVert \big)}{\lVert \omega^{(l)}_t \rVert} \\
\theta^{(l)}_t &\leftarrow \theta^{(l)}_{t-1} - \alpha \, q^{(l)}_t \, \omega^{(l)}_t
\end{align}

$\omega_t$ is Adam's step direction (with the decay inside it; the paper calls it $r_t$), $q_t$ is
the trust ratio, and $\phi(z) = \min(\max(z, \gamma_l), \gamma_u)$ is a scaling function that
keeps it in bounds. The norms are Frobenius norms: one number per tensor, the whole tensor read
as a vector.

## Why it works

The step of layer $l$ has norm $\alpha \, q^{(l)}_t \lVert \omega^{(l)}_t \rVert = \alpha \,
\phi(\lVert \theta^{(l)}_{t-1} \rVert)$: **every layer moves by the same fraction $\alpha$ of its
weights**, whatever its gradients. The trust ratio throws away the size of Adam's step and keeps
its direction, so no layer can run ahead of the others as the rate grows, and the rate that works
for one layer works for all. $\phi$ caps the ratio for layers with large weights (and lifts it for
tiny ones, if $\gamma_l > 0$); with $\phi(z) = z$ it is the plain relative step. The paper proves
LAMB converges, and how the layer-wise step helps, for smooth non-convex losses.

`tests/optimizers/test_lamb.py` holds this class to that claim: each layer's step is $\alpha$
times its trust ratio times its direction, and so has norm $\alpha \, \phi(\lVert \theta \rVert)$.

## The reference implementation, and where it departs from the paper

The arguments and defaults are those of
[`pytorch_optimizer.Lamb`](https://github.com/kozistr/pytorch_optimizer) (PyPI
`pytorch-optimizer`), and `LAMB` computes what it computes; the tests hold the two together with
every option. Its default update is not the paper's:

* **The bias correction is outside the trust ratio.** It divides $m_t$ and $v_t$ by nothing
  inside the direction, $\omega_t = \frac{m_t}{\sqrt{v_t} + \epsilon}$, and divides the *step* by
  $1 - \beta_1^t$ after the trust ratio. The trust ratio cancels a factor common to the whole
  direction, so in the paper the corrections change only the weight of $\lambda \theta_{t-1}$ and of
  $\epsilon$ against Adam's ratio; the reference's correction, outside, makes the first steps
  $\frac{1}{1 - \beta_1^t}$ times the paper's (10 times at $t = 1$, 1.1 times at $t = 22$).
* **Weight decay is decoupled by default.** `weight_decouple=True` shrinks the weights by
  $1 - \alpha \lambda$ before the step, outside the trust ratio, as [AdamW](adamw.html) does
  (`fixed_decay=True`: by $1 - \lambda$). `weight_decouple=False` gives the paper's rule,
  $\lambda \theta_{t-1}$ inside $\omega_t$.
* **$\phi(z) = \min(z, 10)$**, the paper's $\phi$ with $\gamma_l = 0$ and $\gamma_u = 10$; the
  trust ratio is $1$ when either norm is zero (a layer initialised to zero, such as a bias, would
  otherwise never move), and $\epsilon$ is added to $\lVert \omega_t \rVert$ in it.
* **Options beyond the paper.** `pre_norm=True` first scales every gradient by
  $\min \big( 1, \frac{\texttt{max\_grad\_norm}}{\lVert g \rVert + \epsilon} \big)$ for the norm
  $\lVert g \rVert$ of all gradients together (the reference computes that norm in `float32`, even
  for `float64` parameters); `grad_averaging=False` drops the $1 - \beta_1$ from $m_t$;
  `adam=True` sets the trust ratio to one, which is Adam with the reference's bias correction.
  `rectify=True` takes [RAdam](radam.html)'s rectified step, with RAdam's rectification term $r_t$
  (not the paper's direction), $\alpha \, r_t \frac{\sqrt{1 - \beta_2^t}}{1 - \beta_1^t}
  \frac{m_t}{\sqrt{v_t} + \epsilon}$ from $\rho_t \ge 5$ (`n_sma_threshold`), and before then no step, or
  with `degenerated_to_sgd=True` the momentum step $\frac{\alpha}{1 - \beta_1^t} m_t$. Its trust ratio
  is not LAMB's: it divides $\lVert \theta_{t-1} \rVert$ by the norm of the *updated weights*
  $\lVert \theta_{t-1} - \Delta \rVert$, not of the step $\Delta$, so it stays near one, and
  $\lambda$ of `weight_decouple=False` is not applied at all. We reproduce it, since the tests hold
  us to the package, and say so here: it is rectified Adam with a ratio close to one, not a
  rectified LAMB.
* The reference counts steps per param group, and this class per parameter, as `torch.optim`
  does; they differ only for a parameter that skips steps without a gradient. `foreach` chooses
  the reference's implementation and does nothing here.

[`LAMBPaper`](#LAMBPaper), below, is the paper's Algorithm 2, and the tests hold it to an
independent transcription of it.

## Memory and time

Adam's state, $m$ and $v$: 8 bytes per `float32` parameter (`test_lamb.py` counts the bytes of the
state). The trust ratio needs the norm of the whole direction before any weight can move, so a
step takes two passes over memory: one to update $m$ and $v$ and sum $\lVert \theta \rVert^2$ and
$\lVert \omega \rVert^2$, and one to step. That is about 40 bytes read or written per parameter,
against Adam's 28. On [the fast path](fast.html) the page's `step_param`, norms included, is
compiled into those loops. Measured with `python benchmarks/optimizer_step.py --optimizers LAMB`
on this 2-core machine (shared with other jobs, whose bursts make single runs vary several-fold):
for 50M parameters 40 ms per step, 92% of that 40-byte floor, against 81 ms for
`pytorch_optimizer`'s for-loop and 170 ms for its `foreach`; for 10M, with the two stepping in turn,
between 0.27 and 0.79 of the reference's time. The reference runs about twelve operations per
tensor, each a pass over memory, with temporaries. The table with every optimizer is in
[the benchmark](fast.html#benchmark).

## What to tune

* $\alpha$ (`lr`): the fraction of its norm by which each layer moves per step. The paper trains
  BERT at $\alpha$ up to about $0.01$ with batches of 32 thousand, with a warm-up and a polynomial decay;
  LAMB is meant for large batches and rates, with a learning-rate warm-up.
* $\lambda$ (`weight_decay`): $0.01$ for BERT in the paper.
* $\beta_1, \beta_2, \epsilon$: as for Adam; the reference's $\epsilon$ is $10^{-6}$.
* At small batch sizes LAMB has little to add to AdamW: Nado et al. (2021) match it with well-tuned
  Adam and Nesterov momentum even at large ones.
"""

import math
from typing import Any, Callable, Dict, Optional, Tuple, Union

import torch
from torch import nn

from labml_opt.adam import Adam
from labml_opt.fast import is_dtensor
from labml_opt.optimizer import Numbers, Params, WeightDecay


class LAMB(Adam):
    """
    ## LAMB optimizer

    Adam's state and hooks: `get_mv` updates the moments as the reference does, and `adam_update`
    takes the step through [`trust_ratio`](#trust_ratio).
    """

    # $\gamma_u$, the upper bound of $\phi$, as the reference's class attribute
    clamp: float = 10.0

    def __init__(self, params: Params, lr: float = 1e-3, betas: Tuple[float, float] = (0.9, 0.999),
                 weight_decay: float = 0.0, weight_decouple: bool = True, fixed_decay: bool = False,
                 rectify: bool = False, degenerated_to_sgd: bool = False, n_sma_threshold: int = 5,
                 grad_averaging: bool = True, max_grad_norm: float = 1.0, adam: bool = False,
                 pre_norm: bool = False, eps: float = 1e-6, foreach: Optional[bool] = None, maximize: bool = False,
                 *, state_dtype: Optional[Union[torch.dtype, str]] = None,
                 kahan_sum: bool = False, seed: int = 0):
        r"""
        * `weight_decay` is $\lambda$: decoupled ($1 - \alpha \lambda$, or $1 - \lambda$ with
          `fixed_decay`) with `weight_decouple`, else added to $\omega_t$ as in the paper
        * `rectify`, `degenerated_to_sgd` and `n_sma_threshold` choose RAdam's rectified step
        * `grad_averaging` weighs $g_t$ by $1 - \beta_1$ in $m_t$
        * `max_grad_norm` is the norm to which `pre_norm` scales all gradients together
        * `adam` sets the trust ratio to one
        * `foreach` is accepted for compatibility and does nothing
        * `state_dtype`, `kahan_sum` and `seed` keep the state in `torch.bfloat16` or 8 bits, or add to
          a `bfloat16` parameter with Kahan summation, as [low-precision state](low_precision.html) explains

        and `lr`, `betas`, `eps` and `maximize` are Adam's.
        """
        self.check('fixed_decay', fixed_decay, weight_decouple or not fixed_decay,
                   'False unless weight_decouple=True: it changes only decoupled decay')
        self.check('n_sma_threshold', n_sma_threshold, n_sma_threshold >= 0, '>= 0')
        self.degenerated_to_sgd = degenerated_to_sgd
        self.n_sma_threshold = n_sma_threshold
        self.pre_norm = pre_norm
        super().__init__(params, lr=lr, betas=betas, eps=eps,
                         weight_decay=WeightDecay(weight_decay, weight_decouple=weight_decouple, absolute=fixed_decay),
                         optimized_update=False, maximize=maximize,
                         defaults=dict(rectify=rectify, grad_averaging=grad_averaging, max_grad_norm=max_grad_norm,
                                       adam=adam), state_dtype=state_dtype, kahan_sum=kahan_sum, seed=seed)

    def reach(self, group: Dict[str, Any]) -> str:
        """
        The trust ratio takes norms of whole tensors: `'tensor'`. A flat loop over a whole tensor
        computes them, as [the fast path](fast.html) does; under FSDP2 the norm of one process's
        shard would not be the tensor's, and the step runs on [whole tensors](distributed.html#whole-tensors).
        """
        return 'tensor'

    def check_hyperparameters(self, defaults: Dict[str, Any]):
        """Adam's checks, and `max_grad_norm`."""
        super().check_hyperparameters(defaults)
        self.check('max_grad_norm', defaults['max_grad_norm'], defaults['max_grad_norm'] >= 0, '>= 0')

    @torch.no_grad()
    def step(self, closure: Optional[Callable[[], float]] = None):
        r"""
        ### One step

        With `pre_norm`, the scale of every gradient, from the norm of all of them, is known
        before any group steps: $\min \big( 1, \frac{\texttt{max\_grad\_norm}}{\lVert g \rVert + \epsilon} \big)$,
        with the constructor's `max_grad_norm` and $\epsilon$, as in the reference.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self._grad_scale = self.global_grad_scale() if self.pre_norm else None
        for group in self.param_groups:
            self.step_group(group)
        return loss

    def global_grad_scale(self) -> Optional[float]:
        r"""The scale of `pre_norm`, or `None` (no scaling) when `max_grad_norm` is zero."""
        max_grad_norm = self.defaults['max_grad_norm']
        if max_grad_norm == 0:
            return None
        # $\lVert g \rVert^2$, summed over every gradient of every group. Under FSDP2 a gradient's
        # norm is a `DTensor` of each process's part: `full_tensor()` combines them into the whole's.
        norms = [param.grad.norm() for group in self.param_groups for param in group['params']
                 if param.grad is not None]
        squared = sum((norm.full_tensor() if is_dtensor(norm) else norm).item() ** 2 for norm in norms)
        return min(1., max_grad_norm / (math.sqrt(squared) + self.defaults['eps']))

    def step_numbers(self, state: Dict[str, Any], group: Dict[str, Any]) -> Numbers:
        r"""
        ### The numbers of step $t$

        The reference's direction $\omega_t = \frac{m_t}{\sqrt{v_t} + \epsilon}$ divides $m_t$
        and $\sqrt{v_t}$ by one (`m_correction`, `v_correction`), and its step size is
        $\frac{\alpha}{1 - \beta_1^t}$; [`LAMBPaper`](#LAMBPaper) moves the corrections inside.
        """
        state['step'] += 1
        step = int(state['step'])
        beta1, beta2 = group['betas']
        lr = self.get_lr(state, group)
        bias_correction1 = 1 - beta1 ** step
        numbers = Numbers(self.weight_decay.numbers(group), lr=lr, beta1=beta1, beta2=beta2, eps=group['eps'],
                          # The weight of $g_t$ in $m_t$: $1 - \beta_1$, or one without `grad_averaging`
                          grad_weight=1 - beta1 if group['grad_averaging'] else 1.,
                          grad_scale=getattr(self, '_grad_scale', None), trust=not group['adam'],
                          bias_correction1=bias_correction1, m_correction=1., v_correction=1., ratio_eps=group['eps'],
                          rectify=group['rectify'], adaptive=True, moves=True,
                          step_size=lr / bias_correction1)
        if group['rectify']:
            # RAdam's $\rho_\infty = \frac{2}{1 - \beta_2} - 1$ and $\rho_t = \rho_\infty - \frac{2 t \beta_2^t}{1 - \beta_2^t}$
            rho_inf = 2 / (1 - beta2) - 1
            beta2_t = beta2 ** step
            rho_t = rho_inf - 2 * step * beta2_t / (1 - beta2_t)
            # The reference applies no $\lambda$ of `weight_decouple=False` when rectified
            numbers.update(l2_decay=False, adaptive=rho_t >= self.n_sma_threshold)
            if numbers.adaptive:
                # $r_t \sqrt{1 - \beta_2^t}$, with $r_t = \sqrt{\frac{(\rho_t - 4)(\rho_t - 2) \rho_\infty}{(\rho_\infty - 4)(\rho_\infty - 2) \rho_t}}$
                r = math.sqrt((1 - beta2_t) * (rho_t - 4) / (rho_inf - 4) * (rho_t - 2) / rho_t * rho_inf / (rho_inf - 2))
                numbers.update(step_size=lr * r / bias_correction1)
            else:
                # Momentum, or no step at all, before $\rho_t$ reaches the threshold
                numbers.update(moves=self.degenerated_to_sgd)
        return numbers

    def get_mv(self, state: Dict[str, Any], numbers: Numbers, grad: torch.Tensor):
        r"""
        ### Update the moments

        $m_t \leftarrow \beta_1 m_{t-1} + (1 - \beta_1) g_t$ (or $+ g_t$ without `grad_averaging`)
        and Adam's $v_t$, written as the reference writes them.
        """
        m, v = state['exp_avg'], state['exp_avg_sq']
        m.mul_(numbers.beta1).add_(numbers.grad_weight * grad)
        v.mul_(numbers.beta2).addcmul_(grad, grad * (1 - numbers.beta2))
        return m, v

    def trust_ratio(self, numbers: Numbers, param: nn.Parameter, direction: torch.Tensor) -> torch.Tensor:
        r"""
        <a id="trust_ratio"></a>

        ### The trust ratio

        $q_t = \frac{\phi(\lVert \theta_{t-1} \rVert)}{\lVert \omega_t \rVert + \epsilon}$ with
        $\phi(z) = \min(z, 10)$, or $1$ where either norm is zero. Both norms are reductions over the
        whole tensor, and the choice is a `torch.where`, not a Python `if`: on the fast path they are
        part of the compiled step.
        """
        # $\phi(\lVert \theta_{t-1} \rVert)$
        weight_norm = param.norm().clamp(max=self.clamp)
        # $\lVert \omega_t \rVert$
        direction_norm = direction.norm()
        return torch.where((weight_norm > 0) & (direction_norm > 0),
                           weight_norm / (direction_norm + numbers.ratio_eps), 1.)

    def adam_update(self, state: Dict[str, Any], numbers: Numbers, param: nn.Parameter,
                    m: torch.Tensor, v: torch.Tensor):
        r"""
        ### Take the step
        """
        if not numbers.moves:
            return
        if numbers.adaptive:
            # $\omega_t = \frac{m_t}{\sqrt{v_t} + \epsilon}$; the paper's $\frac{\hat{m}_t}{\sqrt{\hat{v}_t} + \epsilon}$ in `LAMBPaper`
            direction = (m / numbers.m_correction) / (v.sqrt() / numbers.v_correction + numbers.eps)
        else:
            # Momentum alone, before rectification
            direction = m
        if numbers.l2_decay:
            # The paper's decay, inside the direction: $\omega_t + \lambda \theta_{t-1}$
            direction = direction + numbers.weight_decay * param
        if not numbers.trust:
            ratio = 1.
        elif numbers.rectify:
            # The reference's rectified ratio, of the updated weights: $\frac{\phi(\lVert \theta_{t-1} \rVert)}{\lVert \theta_{t-1} - \Delta \rVert + \epsilon}$
            ratio = self.trust_ratio(numbers, param, param - numbers.step_size * direction)
        else:
            ratio = self.trust_ratio(numbers, param, direction)
        # $\theta_t \leftarrow \theta_{t-1} - \frac{\alpha}{1 - \beta_1^t} q_t \omega_t$
        param.sub_(numbers.step_size * ratio * direction)

    def step_param(self, state: Dict[str, Any], numbers: Numbers, grad: torch.Tensor, param: nn.Parameter):
        r"""
        ### Update one parameter

        `pre_norm`'s scale first; then decoupled decay shrinks $\theta_{t-1}$, before its norm is
        taken, as in the reference (the paper's $\lambda \theta_{t-1}$ joins $\omega_t$ instead).
        """
        if numbers.grad_scale is not None:
            grad = grad * numbers.grad_scale
        if numbers.decoupled_decay:
            # $\theta_{t-1} \leftarrow \theta_{t-1} (1 - \alpha \lambda)$, or $(1 - \lambda)$
            param.mul_(numbers.decay_factor)
        m, v = self.get_mv(state, numbers, grad)
        self.adam_update(state, numbers, param, m, v)


class LAMBPaper(LAMB):
    r"""
    <a id="LAMBPaper"></a>

    ## The paper's LAMB

    Algorithm 2 of the paper: the bias-corrected direction $\omega_t = \frac{\hat{m}_t}{\sqrt{\hat{v}_t}
    + \epsilon} + \lambda \theta_{t-1}$, the trust ratio $\frac{\phi(\lVert \theta_{t-1} \rVert)}{\lVert
    \omega_t \rVert}$ with nothing added to the norm, and the step $\alpha \, q_t \, \omega_t$: the
    step of every layer has norm exactly $\alpha \, \phi(\lVert \theta_{t-1} \rVert)$. $\phi$ is the
    reference's, $\min(z, 10)$, with a ratio of one for a zero norm. Weight decay is the paper's.
    """

    def __init__(self, params: Params, lr: float = 1e-3, betas: Tuple[float, float] = (0.9, 0.999),
                 weight_decay: float = 0.0, eps: float = 1e-6, maximize: bool = False, *,
                 state_dtype: Optional[Union[torch.dtype, str]] = None, kahan_sum: bool = False, seed: int = 0):
        """The arguments of `LAMB` that the paper has, and the low-precision options."""
        super().__init__(params, lr=lr, betas=betas, weight_decay=weight_decay, weight_decouple=False, eps=eps,
                         maximize=maximize, state_dtype=state_dtype, kahan_sum=kahan_sum, seed=seed)

    def step_numbers(self, state: Dict[str, Any], group: Dict[str, Any]) -> Numbers:
        r"""$\hat{m}_t = \frac{m_t}{1 - \beta_1^t}$ and $\sqrt{\hat{v}_t} = \frac{\sqrt{v_t}}{\sqrt{1 - \beta_2^t}}$
        inside $\omega_t$, and the step size $\alpha$."""
        numbers = super().step_numbers(state, group)
        numbers.update(m_correction=numbers.bias_correction1,
                       v_correction=math.sqrt(1 - numbers.beta2 ** int(state['step'])),
                       ratio_eps=0., step_size=numbers.lr)
        return numbers
