r"""
---
title: L-BFGS optimizer
summary: An annotated PyTorch implementation of limited-memory BFGS, the quasi-Newton method that models the curvature of the loss from its last few steps, with the two-loop recursion and the strong Wolfe line search.
---

# L-BFGS

Every other optimizer on this site looks at one coordinate at a time: Adam divides each
coordinate's step by that coordinate's own gradient scale, and never asks how the coordinates
interact. L-BFGS models the curvature of the loss as a whole, from the gradients it has already
seen, and on a smooth, deterministic problem it reaches a precise minimum in far fewer steps.

## Newton's step and the secant equation

Near a point $\theta$ the loss is about a quadratic,

$$f(\theta + s) \approx f(\theta) + g^\top s + \tfrac{1}{2} s^\top B s$$

with the gradient $g$ and the Hessian $B$, and the quadratic is lowest at Newton's step
$s = -B^{-1} g$. For $n$ parameters $B$ has $n^2$ entries, and solving with it costs $n^3$
operations. A *quasi-Newton* method keeps an approximation $H_k \approx B^{-1}$ instead, and
improves it after each step from what the step revealed. Step $k$ moves by
$s_k = \theta_{k+1} - \theta_k$, and the gradient changes by $y_k = g_{k+1} - g_k$. On a
quadratic $y_k = B s_k$ exactly, so the new approximation is asked to map the one to the other,
the **secant equation**:

$$H_{k+1} y_k = s_k$$

## BFGS

Of all the symmetric matrices that satisfy it, the BFGS update (Broyden, Fletcher, Goldfarb and
Shanno, 1970) picks the one closest to $H_k$ in a weighted norm:

$$H_{k+1} = \left(I - \rho_k s_k y_k^\top\right) H_k \left(I - \rho_k y_k s_k^\top\right) + \rho_k s_k s_k^\top$$

with $\rho_k = \frac{1}{y_k^\top s_k}$. It keeps $H$ positive definite, so that $d = -H g$ always points downhill, as long as
$y_k^\top s_k > 0$: the slope along the step grew, as it does on a convex function. The direction
$d_k = -H_k g_k$ then carries what the last steps learned about how the coordinates interact;
near the minimum of a smooth function BFGS converges superlinearly, where gradient descent only
gains a constant factor per step. But $H$ is dense: for a million parameters, 4 TB of `float32`.

## Limited memory

Nocedal, in [*Updating Quasi-Newton Matrices with Limited
Storage*](https://doi.org/10.1090/S0025-5718-1980-0572855-7) (1980), observed that $H_k$ is
never needed as a matrix: only $H_k g$ is. Unroll the update $m$ times, back to a simple initial
matrix $H_k^0$, and $H_k g$ is a product of $m$ rank-two corrections applied to $g$; each needs
only its pair $(s_i, y_i)$. L-BFGS keeps the last $m$ pairs, $2 m n$ numbers, forgets the oldest
when a new one arrives, and computes $H_k g$ from them with the
[two-loop recursion](#two_loop_recursion) in about $4 m n$ multiplications.

Liu and Nocedal, in [*On the Limited Memory BFGS Method for Large Scale
Optimization*](https://doi.org/10.1007/BF01589116) (1989), proved it converges on convex
problems, compared it with the alternatives of the time, and settled the choice of $H_k^0$: a
multiple of the identity, scaled by the newest pair,

$$H_k^0 = \gamma_k I, \qquad \gamma_k = \frac{s_{k-1}^\top y_{k-1}}{y_{k-1}^\top y_{k-1}}$$

the inverse of the curvature along the last step, so that the step has the right length from the start.
This is the L-BFGS of `torch.optim.LBFGS`, which follows Mark Schmidt's
[minFunc](https://www.cs.ubc.ca/~schmidtm/Software/minFunc.html), and ours.

## Memory

`history_size` is $m$, the number of pairs kept: with the default $100$, the memory alone is $200$
copies of the parameters, and a step keeps a few more vectors of length $n$ (the direction, the
last gradient, the work vector of the recursion). Much smaller memories usually do as well:
Nocedal and Wright's *Numerical Optimization* (section 7.2) suggests $m$ between $3$ and $20$.
Every parameter is one coordinate of one long vector, so all parameters must be on one device.

## What a `step()` is

`step(closure)` is not one update. It calls the closure, which computes the loss and its gradient,
and then runs up to `max_iter` iterations of L-BFGS, each with a direction from the two-loop
recursion and a step along it, calling the closure again for each new point, at most `max_eval`
times in all. It stops early when the gradient's largest coordinate is at most `tolerance_grad`,
or when the step or the change of the loss falls below `tolerance_change`. The memory and the
last direction carry over to the next `step()`.

The step along $d$ is $t = \alpha$ (`lr`), and in the very first iteration, when $d = -g$ and
nothing is known about its scale, $t = \alpha \min(1, 1 / \lVert g \rVert_1)$. With
`line_search_fn='strong_wolfe'`, $t$ is searched for instead, [below](#strong-wolfe).

## When to use it

* **Smooth, deterministic, full-batch problems**: fitting a small model to all of its data,
  logistic regression to convergence, curve fitting, physics-informed networks, style transfer.
  There L-BFGS with the line search needs no learning rate and converges in tens of iterations
  where first-order methods need thousands of steps.
* **Not mini-batches.** A pair $(s, y)$ measures curvature only when both gradients are of the
  same function; with a new batch in every `step()`, $y$ mixes the change of the gradient with the
  change of the batch, and the model of the curvature is noise. Non-smooth losses (ReLU networks
  near their kinks, $L_1$ penalties) violate the quadratic model too.
* It needs a closure, takes a single param group, and costs $2m$ copies of the parameters.

Use it like this:

```python
optimizer = LBFGS(model.parameters(), line_search_fn='strong_wolfe')

def closure():
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    return loss

for _ in range(10):
    optimizer.step(closure)
```

L-BFGS is the one optimizer here that does not fill in [the template](optimizer.html): its update
is not element-wise, so it has no `step_param` and never takes [the fast path](fast.html). It
shares only the template's checks and its `state_dict`.
"""

import numbers
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import torch

from labml_opt.optimizer import GenericAdaptiveOptimizer, Params

# A number that is a Python float or a 0-d tensor: the step lengths, slopes and losses of the line search
Scalar = Union[float, torch.Tensor]

# `ys` must exceed this for a pair to enter the memory
CURVATURE_THRESHOLD = 1e-10


def as_float(loss: Union[float, torch.Tensor]) -> float:
    """The loss a closure returned, as a Python float (a tensor detached first, which spares a warning)."""
    return float(loss.detach() if isinstance(loss, torch.Tensor) else loss)


def two_loop_recursion(grad: torch.Tensor, old_dirs: List[torch.Tensor], old_stps: List[torch.Tensor],
                       ro: List[torch.Tensor], H_diag: Scalar, al: List[Optional[torch.Tensor]]) -> torch.Tensor:
    r"""
    <a id="two_loop_recursion"></a>

    ## The two-loop recursion

    The direction $d = -H_k g$, from the $m$ pairs in memory, oldest first:

    * `grad` is $g$
    * `old_stps` are the steps $s_i$ and `old_dirs` the changes of the gradient $y_i$ (torch's
      names for them)
    * `ro` are the $\rho_i = \frac{1}{y_i^\top s_i}$
    * `H_diag` is $\gamma_k$
    * `al` receives the $\alpha_i$ of the first loop

    Writing the BFGS update as $H_{i+1} = V_i^\top H_i V_i + \rho_i s_i s_i^\top$ with
    $V_i = I - \rho_i y_i s_i^\top$ and unrolling it gives $H_k g$ as a sum over the pairs. The first
    loop, newest pair first, applies the $V_i$; the second, oldest first, the $V_i^\top$ and the
    $\rho_i s_i s_i^\top$ terms. Starting from $q = -g$ computes $-H_k g$ directly.
    """
    q = grad.neg()
    for i in range(len(old_dirs) - 1, -1, -1):
        # $\alpha_i = \rho_i s_i^\top q$
        al[i] = old_stps[i].dot(q) * ro[i]
        # $q \leftarrow q - \alpha_i y_i$
        q.add_(old_dirs[i], alpha=-al[i])
    # $r \leftarrow H_k^0 q = \gamma_k q$
    r = torch.mul(q, H_diag)
    for i in range(len(old_dirs)):
        # $\beta = \rho_i y_i^\top r$
        beta = old_dirs[i].dot(r) * ro[i]
        # $r \leftarrow r + (\alpha_i - \beta) s_i$
        r.add_(old_stps[i], alpha=al[i] - beta)
    # $r = -H_k g$
    return r


def cubic_minimum(x1: Scalar, f1: Scalar, g1: Scalar, x2: Scalar, f2: Scalar, g2: Scalar,
                  bounds: Optional[Tuple[Scalar, Scalar]] = None) -> Scalar:
    r"""
    <a id="cubic_minimum"></a>

    ## The minimum of a cubic through two points

    The line search knows the loss and its slope at two step lengths: $\phi(x_1) = f_1$,
    $\phi'(x_1) = g_1$ and $\phi(x_2) = f_2$, $\phi'(x_2) = g_2$. One cubic has those four values,
    and its local minimum is the next guess. With $x_1 < x_2$ (Nocedal and Wright, equation 3.59):

    \begin{align}
    d_1 &= g_1 + g_2 - 3 \frac{f_1 - f_2}{x_1 - x_2} \\
    d_2 &= \sqrt{d_1^2 - g_1 g_2} \\
    x^* &= x_2 - (x_2 - x_1) \frac{g_2 + d_2 - d_1}{g_2 - g_1 + 2 d_2}
    \end{align}

    clipped to `bounds`, by default $[x_1, x_2]$. When $d_1^2 < g_1 g_2$ (or it is NaN), the cubic
    has no local minimum to offer, and the middle of the bounds is taken instead.
    """
    # Name the points so that $x_1 \le x_2$; $d_1$ and $d_2$ are symmetric in the two
    if x2 < x1:
        x1, f1, g1, x2, f2, g2 = x2, f2, g2, x1, f1, g1
    low, high = bounds if bounds is not None else (x1, x2)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 ** 2 - g1 * g2
    if d2_square >= 0:
        d2 = torch.as_tensor(d2_square).sqrt()
        minimum = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        return min(max(minimum, low), high)
    return (low + high) / 2.


def strong_wolfe(evaluate: Callable[[Scalar], Tuple[float, torch.Tensor]], t: Scalar, d: torch.Tensor,
                 loss: float, grad: torch.Tensor, gtd: torch.Tensor, c1: float = 1e-4, c2: float = 0.9,
                 tolerance_change: float = 1e-9, max_ls: int = 25) -> Tuple[float, torch.Tensor, Scalar, int]:
    r"""
    <a id="strong-wolfe"></a>

    ## The strong Wolfe line search

    A step length $t$ along the direction $d$ should lower the loss
    $\phi(t) = f(\theta + t d)$ by a fair share of what the slope $\phi'(0) = g^\top d < 0$
    promises, and it should not stop where the loss is still falling steeply. The two
    [Wolfe conditions](https://doi.org/10.1137/1011036) (Wolfe, 1969) say so, with
    $0 < c_1 < c_2 < 1$ (here $10^{-4}$ and $0.9$):

    \begin{align}
    \phi(t) &\le \phi(0) + c_1 t \, \phi'(0) && \text{sufficient decrease (Armijo)} \\
    \lvert \phi'(t) \rvert &\le c_2 \lvert \phi'(0) \rvert && \text{curvature, in its strong form}
    \end{align}

    The first rules out steps that are too long: the loss must fall at least in proportion to the
    step. The second rules out steps that are too short, where the slope is still nearly as
    steep as at $0$, and, in the strong form, steps that overshoot to where the loss rises steeply.

    The curvature condition is also what BFGS needs. With $s = t d$ and $y = g_{\text{new}} - g$,
    it gives $g_{\text{new}}^\top d \ge c_2 \, g^\top d$, so

    $$y^\top s = t \left(g_{\text{new}}^\top d - g^\top d\right) \ge t (c_2 - 1) \, g^\top d > 0$$

    and every pair the line search produces keeps $H$ positive definite.

    The search follows Nocedal and Wright's algorithms 3.5 and 3.6, in minFunc's form:

    * `evaluate(t)` returns the loss and the gradient at $\theta + t d$; `t` is the first trial,
      `loss`, `grad` and `gtd` are $\phi(0)$, $g$ and $\phi'(0)$
    * `tolerance_change` ends the search when the bracket is that short (measured along $d$);
      `torch.optim.LBFGS` leaves it at $10^{-9}$ whatever the optimizer's `tolerance_change`
    * `max_ls` bounds the number of evaluations after the first

    It returns the loss and gradient at the chosen $t$, $t$, and the number of evaluations.
    """
    d_norm = d.abs().max()
    f_new, g_new = evaluate(t)
    evals = 1
    gtd_new = g_new.dot(d)
    # Each trial as $(t, \phi(t), \nabla f, \phi'(t))$; the last trial, starting at $t = 0$
    previous = (0, loss, grad, gtd)
    ls_iter = 0
    done = False
    bracket = None
    # ### Bracketing
    #
    # Lengthen the step until an interval is known to hold a point that satisfies both conditions.
    while ls_iter < max_ls:
        current = (t, f_new, g_new, gtd_new)
        # Too long: sufficient decrease fails, or the loss rose since the last trial. The points
        # that satisfy both conditions lie between the two trials.
        if f_new > loss + c1 * t * gtd or (ls_iter > 1 and f_new >= previous[1]):
            bracket = [previous, current]
            break
        # Both conditions hold: done
        if abs(gtd_new) <= -c2 * gtd:
            bracket = [current]
            done = True
            break
        # The slope turned non-negative: a minimum of $\phi$ lies between the two trials
        if gtd_new >= 0:
            bracket = [previous, current]
            break
        # Still falling steeply: extrapolate to the minimum of the cubic through the two trials,
        # at least 1% further than this trial and at most ten times as far
        t = cubic_minimum(previous[0], previous[1], previous[3], t, f_new, gtd_new,
                          bounds=(t + 0.01 * (t - previous[0]), t * 10))
        previous = current
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1
    # Out of evaluations while still extrapolating: the choice is between $0$ and the last trial
    if bracket is None:
        bracket = [(0, loss, grad, gtd), (t, f_new, g_new, gtd_new)]

    # ### Zoom
    #
    # Shrink the bracket until a trial in it satisfies both conditions. `low` is the end with the
    # lower loss (among trials with sufficient decrease), `high` the other one; the slope at `low`
    # points towards `high`, so a minimum lies between them.
    low, high = (0, 1) if bracket[0][1] <= bracket[-1][1] else (1, 0)
    insufficient_progress = False
    while not done and ls_iter < max_ls:
        (a, f_a, _, gtd_a), (b, f_b, _, gtd_b) = bracket
        if abs(b - a) * d_norm < tolerance_change:
            break
        # The minimum of the cubic through both ends
        t = cubic_minimum(a, f_a, gtd_a, b, f_b, gtd_b)
        # A trial very close to an end teaches little. The first time, accept it; if it happens
        # twice in a row, or the trial is at an end, move it to 10% of the bracket from the end.
        left, right = min(a, b), max(a, b)
        margin = 0.1 * (right - left)
        if min(right - t, t - left) < margin:
            if insufficient_progress or t >= right or t <= left:
                t = right - margin if abs(t - right) < abs(t - left) else left + margin
                insufficient_progress = False
            else:
                insufficient_progress = True
        else:
            insufficient_progress = False
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1
        trial = (t, f_new, g_new, gtd_new)
        if f_new > loss + c1 * t * gtd or f_new >= bracket[low][1]:
            # No sufficient decrease, or no lower than `low`: the trial is the new `high`
            bracket[high] = trial
            low, high = (0, 1) if bracket[0][1] <= bracket[1][1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high][0] - bracket[low][0]) >= 0:
                # The slope at the trial points away from `high`: the minimum is on the other side
                bracket[high] = bracket[low]
            # A lower point with sufficient decrease is the new `low`
            bracket[low] = trial
    t, f_new, g_new, _ = bracket[low]
    return f_new, g_new, t, evals


class LBFGS(GenericAdaptiveOptimizer):
    """
    ## L-BFGS optimizer

    A drop-in replacement for `torch.optim.LBFGS`: the same arguments, defaults, iterations, line
    search and state.
    """

    def __init__(self, params: Params, lr: Union[float, torch.Tensor] = 1, max_iter: int = 20,
                 max_eval: Optional[int] = None, tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9,
                 history_size: int = 100, line_search_fn: Optional[str] = None):
        r"""
        * `lr` is $\alpha$, the step length along the direction without a line search, and the
          first trial with one
        * `max_iter` is the number of L-BFGS iterations in one `step()`
        * `max_eval` is the number of closure calls in one `step()` (by default `max_iter * 5 // 4`)
        * `tolerance_grad` stops when $\lVert g \rVert_\infty$ is at most this
        * `tolerance_change` stops when the step, or the change of the loss, is smaller than this
        * `history_size` is $m$, the number of pairs $(s_i, y_i)$ kept
        * `line_search_fn` is `None` for a fixed step, or `'strong_wolfe'`

        Values `torch.optim` takes but cannot run (a `history_size` of `0`, `max_eval` below
        one) are refused here. An unknown `line_search_fn` raises the `RuntimeError` torch raises on
        the first step, here at once.
        """
        is_count = lambda value: isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1
        self.check('max_iter', max_iter, is_count(max_iter), 'an integer >= 1')
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        self.check('max_eval', max_eval, is_count(max_eval), 'an integer >= 1')
        self.check('tolerance_grad', tolerance_grad, tolerance_grad >= 0, '>= 0')
        self.check('tolerance_change', tolerance_change, tolerance_change >= 0, '>= 0')
        self.check('history_size', history_size, is_count(history_size), 'an integer >= 1')
        if line_search_fn not in (None, 'strong_wolfe'):
            raise RuntimeError(f"Invalid line_search_fn {line_search_fn!r} for LBFGS: must be None or 'strong_wolfe'")
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                        tolerance_change=tolerance_change, history_size=history_size, line_search_fn=line_search_fn)
        super().__init__(params, defaults)

    def add_param_group(self, param_group: Dict[str, Any]):
        """
        One vector holds every parameter, so there is one param group. Complex parameters are two
        real numbers each, as in `torch.optim.LBFGS`: the template's refusal of them does not apply.
        """
        torch.optim.Optimizer.add_param_group(self, param_group)
        if len(self.param_groups) > 1:
            self.param_groups.pop()
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups): "
                             "pass all parameters in one group")

    @property
    def params(self) -> List[torch.Tensor]:
        """The parameters, in the order of their coordinates in the flat vectors."""
        return self.param_groups[0]['params']

    def flat_grad(self) -> torch.Tensor:
        """
        ### The gradient as one vector

        $g$ for every parameter, in order: zeros for a parameter without a gradient, a sparse
        gradient made dense, and a complex number as two real ones.
        """
        views = []
        for param in self.params:
            if param.grad is None:
                grad = param.new_zeros(param.numel())
            elif param.grad.is_sparse:
                grad = param.grad.to_dense().reshape(-1)
            else:
                grad = param.grad.reshape(-1)
            views.append(torch.view_as_real(grad).reshape(-1) if grad.is_complex() else grad)
        return torch.cat(views)

    def move(self, t: Scalar, d: torch.Tensor):
        r"""
        ### Move the parameters

        $\theta \leftarrow \theta + t d$, each parameter by its slice of $d$.
        """
        offset = 0
        for param in self.params:
            real = torch.view_as_real(param) if param.is_complex() else param
            real.add_(d[offset:offset + real.numel()].view_as(real), alpha=t)
            offset += real.numel()

    def evaluate_at(self, closure: Callable[[], torch.Tensor], start: List[torch.Tensor], t: Scalar,
                    d: torch.Tensor) -> Tuple[float, torch.Tensor]:
        r"""
        The loss and the gradient at $\theta + t d$, for the line search, and the parameters put back
        to `start`, which is $\theta$.
        """
        self.move(t, d)
        loss = as_float(closure())
        grad = self.flat_grad()
        for param, value in zip(self.params, start):
            param.copy_(value)
        return loss, grad

    def remember(self, state: Dict[str, Any], y: torch.Tensor, s: torch.Tensor, history_size: int):
        r"""
        ### Update the memory

        Add the pair $(s, y)$ of the last iteration, if $y^\top s > 10^{-10}$; otherwise the pair
        would break the positive definiteness of $H$ (or divide by about zero), and is skipped.
        Without a line search nothing else guarantees $y^\top s > 0$.
        """
        ys = y.dot(s)
        if ys > CURVATURE_THRESHOLD:
            # Forget the oldest pair when the memory is full
            if len(state['old_dirs']) == history_size:
                for key in ('old_dirs', 'old_stps', 'ro'):
                    state[key].pop(0)
            state['old_dirs'].append(y)
            state['old_stps'].append(s)
            # $\rho = \frac{1}{y^\top s}$
            state['ro'].append(1. / ys)
            # $\gamma = \frac{s^\top y}{y^\top y}$, from the newest pair
            state['H_diag'] = ys / y.dot(y)

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor]):
        r"""
        ### One `step()`: up to `max_iter` iterations

        `closure` clears the gradients, computes the loss, calls `backward()` and returns the loss;
        it runs with autograd enabled. The state is kept with the first parameter, as in
        `torch.optim.LBFGS`, so that `state_dict` saves it and moves its tensors with the parameters:

        * `func_evals` and `n_iter` count closure calls and iterations over all steps
        * `old_dirs`, `old_stps`, `ro` and `H_diag` are the memory: $y_i$, $s_i$, $\rho_i$, $\gamma$
        * `al` holds the two-loop recursion's $\alpha_i$
        * `d` and `t` are the last direction and step length, `prev_flat_grad` and `prev_loss` the
          gradient and loss where that iteration started: the next iteration's pair is
          $s = t d$, $y = g - g_{\text{prev}}$
        """
        group = self.param_groups[0]
        lr = group['lr']
        # A 1-element tensor `lr` as a 0-d tensor, as `torch.optim` does
        if isinstance(lr, torch.Tensor) and lr.dim() != 0:
            lr = lr.squeeze()
        max_iter, max_eval, history_size = group['max_iter'], group['max_eval'], group['history_size']
        tolerance_grad, tolerance_change = group['tolerance_grad'], group['tolerance_change']
        closure = torch.enable_grad()(closure)

        state = self.state[self.params[0]]
        state.setdefault('func_evals', 0)
        state.setdefault('n_iter', 0)

        orig_loss = closure()
        loss = as_float(orig_loss)
        evals = 1
        state['func_evals'] += 1
        flat_grad = self.flat_grad()
        # Already at a minimum, to the tolerance: nothing to do
        if flat_grad.abs().max() <= tolerance_grad:
            return orig_loss

        d, t = state.get('d'), state.get('t')
        for n_iter in range(1, max_iter + 1):
            state['n_iter'] += 1
            # #### The direction
            if state['n_iter'] == 1:
                # The first iteration of all knows no curvature: $d = -g$
                d = flat_grad.neg()
                state.update(old_dirs=[], old_stps=[], ro=[], H_diag=1)
            else:
                # $s = t d$ and $y = g - g_{\text{prev}}$ from the last iteration, then $d = -H g$
                self.remember(state, y=flat_grad.sub(state['prev_flat_grad']), s=d.mul(t), history_size=history_size)
                al = state.setdefault('al', [None] * history_size)
                d = two_loop_recursion(flat_grad, state['old_dirs'], state['old_stps'], state['ro'], state['H_diag'], al)
            state['prev_flat_grad'], state['prev_loss'] = flat_grad, loss
            prev_loss = loss

            # #### The step length
            # $t = \alpha \min(1, 1 / \lVert g \rVert_1)$ the first time, $\alpha$ after that
            if state['n_iter'] == 1:
                t = min(1., 1. / flat_grad.abs().sum()) * lr
            else:
                t = lr
            # The slope along $d$, $g^\top d$: if it is not clearly negative, $d$ leads nowhere
            gtd = flat_grad.dot(d)
            if gtd > -tolerance_change:
                break

            if group['line_search_fn'] == 'strong_wolfe':
                start = [param.clone(memory_format=torch.contiguous_format) for param in self.params]
                loss, flat_grad, t, step_evals = strong_wolfe(
                    lambda length: self.evaluate_at(closure, start, length, d), t, d, loss, flat_grad, gtd,
                    max_ls=max_eval - evals)
                # $\theta \leftarrow \theta + t d$ with the $t$ found
                self.move(t, d)
            else:
                # $\theta \leftarrow \theta + t d$
                self.move(t, d)
                step_evals = 0
                # The loss and gradient at the new point, unless this is the last iteration: the next
                # `step()` computes them (on its own batch, if the closure changes)
                if n_iter != max_iter:
                    with torch.enable_grad():
                        loss = as_float(closure())
                    flat_grad = self.flat_grad()
                    step_evals = 1
            evals += step_evals
            state['func_evals'] += step_evals

            # #### When to stop
            if n_iter == max_iter or evals >= max_eval:
                break
            # A minimum, to the tolerance
            if flat_grad.abs().max() <= tolerance_grad:
                break
            # No progress: the step, or the change of the loss, is below `tolerance_change`
            if d.mul(t).abs().max() <= tolerance_change or abs(loss - prev_loss) < tolerance_change:
                break

        state['d'], state['t'] = d, t
        return orig_loss

    def load_state_dict(self, state_dict: Dict[str, Any]):
        """
        Refuse the state of another algorithm, before anything is changed: the state of the first
        parameter must have L-BFGS's keys (`al` appears after the second iteration, the rest after
        the first step).
        """
        source = state_dict.get('optimizer', 'a state_dict with no optimizer name (torch.optim?)')
        for saved in state_dict['state'].values():
            extra = saved.keys() - STATE_KEYS
            if extra or not {'func_evals', 'n_iter'} <= saved.keys():
                raise ValueError(f'Cannot load the state of {source} into LBFGS: its parameter state has keys '
                                 f'{sorted(saved)}, LBFGS needs {sorted(STATE_KEYS)}')
        torch.optim.Optimizer.load_state_dict(self, state_dict)


# The keys of L-BFGS's state
STATE_KEYS = {'func_evals', 'n_iter', 'd', 't', 'old_dirs', 'old_stps', 'ro', 'H_diag', 'prev_flat_grad',
              'prev_loss', 'al'}
