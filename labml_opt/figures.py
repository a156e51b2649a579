r"""
---
title: Figures of the optimizer pages
summary: The measurements behind the figures on the AMSGrad, NAdam, RAdam, Muon and low-precision pages, taken from the optimizers themselves, and the command that draws them.
---

# Figures of the optimizer pages

Each figure on an optimizer's page is a measurement of that optimizer, not a plot of its formula:
the functions below run the optimizer on one coordinate with a chosen gradient sequence and read
off the quantity the page talks about from the steps it takes. The tests in `tests/optimizers/`
compare the same measurements with the pages' closed forms, so a figure cannot show something the
code does not do. Redraw them all with

```bash
python -m labml_opt.figures
```

which writes the SVG files into `labml_opt/figures/`, next to the pages that show them.
"""

import math
from pathlib import Path
from typing import Dict, Iterable, List, Optional

import torch

from labml_opt import low_precision
from labml_opt.adam import Adam
from labml_opt.amsgrad import AMSGrad
from labml_opt.muon import NS_COEFFICIENTS, Muon
from labml_opt.nadam import NAdam
from labml_opt.radam import RAdam

FIGURES = Path(__file__).parent / 'figures'


def steps_taken(optimizer_class, gradients: Iterable[float], **kwargs) -> List[float]:
    r"""
    The steps $\theta_{t-1} - \theta_t$ that `optimizer_class(**kwargs)` takes on one float64
    coordinate, starting from zero, for the given `gradients` $g_1, g_2, \dots$.
    """
    param = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = optimizer_class([param], **kwargs)
    steps = []
    for g in gradients:
        param.grad = torch.tensor([g], dtype=torch.float64)
        before = param.item()
        optimizer.step()
        steps.append(before - param.item())
    return steps


def amsgrad_effective_step_size(steps: int, lr: float = 1e-3, betas=(0.9, 0.999), amsgrad: bool = True) -> List[float]:
    r"""
    ### AMSGrad's effective step size

    One gradient of $1$, then gradients of $0.01$: the step $\theta_{t-1} - \theta_t$ divided by
    $\hat{m}_t = \frac{m_t}{1 - \beta_1^t}$, which is what multiplies $\hat{m}_t$, that is
    $\frac{\alpha}{\sqrt{v^{\max}_t / (1 - \beta_2^t)}}$ ($\epsilon = 0$). With `amsgrad=False`
    it is Adam's $\frac{\alpha}{\sqrt{\hat{v}_t}}$.
    """
    gradients = [1.] + [0.01] * (steps - 1)
    beta1 = betas[0]
    taken = steps_taken(AMSGrad, gradients, lr=lr, betas=betas, eps=0., amsgrad=amsgrad)
    rates, m = [], 0.
    for t, (g, step) in enumerate(zip(gradients, taken), start=1):
        # $m_t$, from the gradients, to divide the step by $\hat{m}_t$
        m = beta1 * m + (1 - beta1) * g
        rates.append(step / (m / (1 - beta1 ** t)))
    return rates


def nadam_average(steps: int, lr: float = 2e-3, **kwargs) -> List[float]:
    r"""
    ### NAdam's $\bar{m}_t$ for a constant gradient

    With $g_t = 1$ for every $t$, $\hat{v}_t = 1$, so with $\epsilon = 0$ each step is
    $\alpha \bar{m}_t$: the step divided by $\alpha$ is $\bar{m}_t / g$.
    """
    return [step / lr for step in steps_taken(NAdam, [1.] * steps, lr=lr, eps=0., **kwargs)]


def radam_rectification(steps: int, lr: float = 1e-3, betas=(0.9, 0.999)) -> List[float]:
    r"""
    ### RAdam's $r_t$

    With $g_t = 1$ for every $t$, $\hat{m}_t = 1$ and $\sqrt{v_t} = \sqrt{1 - \beta_2^t}$, so with
    $\epsilon = 0$ a rectified step is $\alpha \, r_t$ and an SGD step is $\alpha$. The step divided
    by $\alpha$ is $r_t$, or $1$ while RAdam takes SGD steps.
    """
    return [step / lr for step in steps_taken(RAdam, [1.] * steps, lr=lr, betas=betas, eps=0.)]


def second_moment(steps: int, state_dtype=None, beta2: float = 0.999, seed: int = 0) -> List[float]:
    r"""
    ### Adam's $v_t$ for a constant gradient, with the state in `state_dtype`

    With $g_t = 1$ for every $t$, $v_t = 1 - \beta_2^t$ exactly; what Adam stores is read back after
    each step.
    """
    param = torch.zeros(1, requires_grad=True)
    optimizer = Adam([param], betas=(0.9, beta2), state_dtype=state_dtype, seed=seed)
    values = []
    for _ in range(steps):
        param.grad = torch.ones(1)
        optimizer.step()
        values.append(optimizer.state[param]['exp_avg_sq'].item())
    return values


def second_moment_rounded_to_nearest(steps: int, beta2: float = 0.999) -> List[float]:
    r"""
    ### The same $v_t$, stored in `bfloat16` by rounding to nearest

    Adam's update of $v$ computed in `float32`, as in `second_moment`, and stored with
    `.to(torch.bfloat16)`: what a `bfloat16` state without stochastic rounding holds.
    """
    v = torch.zeros(1, dtype=torch.bfloat16)
    values = []
    for _ in range(steps):
        v = (beta2 * v.float() + (1 - beta2)).to(torch.bfloat16)
        values.append(v.item())
    return values


def stored_moment(optimizer: torch.optim.Optimizer, state: dict, key: str) -> torch.Tensor:
    """
    A moment as the optimizer will read it at its next step, in `float32`: ours dequantized from
    its codes and scales, torchao's from its tensor subclass, anyone else's as stored.
    """
    value = state[key]
    if key + low_precision.ABSMAX in state:
        return low_precision.dequantize(value, state[key + low_precision.ABSMAX], optimizer.quantized_state[key])
    if type(value) is not torch.Tensor and hasattr(value, 'dequantize'):
        return value.dequantize().float()
    return value.float()


def quantization_errors(make_optimizer, steps: int = 200, shape=(128, 256), seed: int = 0) -> Dict[str, float]:
    r"""
    ### The error of 8-bit moments, against `float32`

    `make_optimizer(params)` and `torch.optim.AdamW` in `float32` (with the same `lr` $10^{-3}$ and
    $\lambda = 10^{-2}$, which `make_optimizer` must use) step one parameter of `shape` on the same
    gradients for `steps` steps. The gradients do not depend on the parameter, so $m_t$ and $v_t$
    would be the same in exact arithmetic: each coordinate's gradient has its own mean and its own
    noise, of scales spread over two orders of magnitude within every block, as in a layer
    whose rows learn at different rates. Returns the relative errors
    $\frac{\lVert \tilde{m}_t - m_t \rVert}{\lVert m_t \rVert}$ of $m_t$ and of $v_t$, and of the
    distance the parameter moved, $\frac{\lVert \tilde{\theta}_t - \theta_t \rVert}{\lVert \theta_t - \theta_0 \rVert}$.
    """
    generator = torch.Generator().manual_seed(seed)
    scale = 10 ** (-2 * torch.rand(shape, generator=generator))
    mean = torch.randn(shape, generator=generator) * scale
    start = torch.randn(shape, generator=generator)
    params = [start.clone().requires_grad_(), start.clone().requires_grad_()]
    quantized = make_optimizer([params[0]])
    reference = torch.optim.AdamW([params[1]], lr=1e-3, weight_decay=1e-2)
    for _ in range(steps):
        grad = mean + scale * torch.randn(shape, generator=generator)
        for param, optimizer in zip(params, (quantized, reference)):
            param.grad = grad.clone()
            optimizer.step()
    errors = {}
    for key in ('exp_avg', 'exp_avg_sq'):
        exact = reference.state[params[1]][key]
        approximate = stored_moment(quantized, quantized.state[params[0]], key)
        errors[key] = ((approximate - exact).norm() / exact.norm()).item()
    moved = (params[1] - start).norm()
    errors['param'] = ((params[0] - params[1]).norm() / moved).item()
    return errors


def muon_response(sigmas: Iterable[float], ns_steps: int = 5, ns_dtype: Optional[torch.dtype] = None,
                  ns_coefficients=NS_COEFFICIENTS, size: int = 16) -> List[float]:
    r"""
    ### What Muon's iteration does to one singular value

    For each $\sigma$ in $(0, 1]$, one step of `Muon` (learning rate $1$, no momentum, no decay, so
    that $\theta_0 - \theta_1 = O_1$) on a gradient $g = U \operatorname{diag}(\sigma, s, \dots, s) V^\top$
    of `size` $\times$ `size`, with random orthogonal $U, V$ and $s$ such that $\lVert g \rVert_F = 1$.
    Returns $u_1^\top O_1 v_1$, the step along the direction of $\sigma$: $\varphi^k(\sigma)$ in exact
    arithmetic, and whatever the rounding of `ns_dtype` makes of it otherwise.
    """
    generator = torch.Generator().manual_seed(0)
    u, _ = torch.linalg.qr(torch.randn(size, size, generator=generator, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(size, size, generator=generator, dtype=torch.float64))
    responses = []
    for sigma in sigmas:
        rest = math.sqrt((1 - sigma ** 2) / (size - 1))
        singular_values = torch.tensor([sigma] + [rest] * (size - 1), dtype=torch.float64)
        param = torch.zeros(size, size, dtype=torch.float64, requires_grad=True)
        optimizer = Muon([param], lr=1., weight_decay=0., momentum=0., ns_steps=ns_steps, ns_dtype=ns_dtype,
                         ns_coefficients=ns_coefficients)
        param.grad = u @ torch.diag(singular_values) @ v.T
        optimizer.step()
        responses.append((u[:, 0] @ -param.detach() @ v[:, 0]).item())
    return responses


def label(ax, ylabel: str, title: str, xlabel: str = 'step $t$'):
    """Label the axes (by default the step axis), title and legend."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)


def save(fig, name: str, metadata: dict):
    """Write the figure to `figures/name`."""
    fig.tight_layout()
    fig.savefig(FIGURES / name, metadata=metadata)
    import matplotlib.pyplot as plt
    plt.close(fig)


def draw():
    """Draw every figure into `labml_opt/figures/`."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    # Same bytes for the same figure: no date in the SVG, and fixed ids
    matplotlib.rcParams['svg.hashsalt'] = 'labml_opt'
    # Text as text, not as paths: smaller files that the browser's fonts draw
    matplotlib.rcParams['svg.fonttype'] = 'none'
    metadata = {'Date': None}
    FIGURES.mkdir(exist_ok=True)

    # AMSGrad: implemented (bias correction after the maximum), Algorithm 2 (none), and Adam
    steps, lr, beta2 = 3000, 1e-3, 0.999
    t = list(range(1, steps + 1))
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.plot(t, amsgrad_effective_step_size(steps, lr=lr), label='AMSGrad as implemented (torch): grows')
    ax.plot(t, [lr / math.sqrt(1 - beta2)] * steps, '--', label="AMSGrad, paper's Algorithm 2: constant")
    ax.plot(t, amsgrad_effective_step_size(steps, lr=lr, amsgrad=False), ':', label='Adam')
    ax.set_xscale('log')
    ax.set_yscale('log')
    label(ax, 'effective step size', 'gradient 1 at $t = 1$, then 0.01; $\\alpha = 10^{-3}$, $\\beta_2 = 0.999$')
    save(fig, 'amsgrad_effective_step_size.svg', metadata)

    # NAdam: implemented average, and Dozat's average with mu_t, for a constant gradient
    steps, kappa, beta1 = 60, 4e-3, 0.9
    t = list(range(1, steps + 1))
    mu = [beta1 * (1 - 0.5 * 0.96 ** (i * kappa)) for i in range(1, steps + 2)]
    dozat, product = [], 1.
    for i in range(steps):
        product *= mu[i]
        # Dozat's $m_t = (1 - \prod \mu_i) g$ for a constant $g$
        dozat.append((1 - mu[i]) / (1 - product) + mu[i + 1] * (1 - product) / (1 - product * mu[i + 1]))
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.plot(t, nadam_average(steps), 'o-', markersize=3, label='as implemented (torch): $m_t$ averaged with $\\beta_1$')
    ax.plot(t, dozat, 's--', markersize=3, label="Dozat's paper: $m_t$ averaged with $\\mu_t$")
    ax.axhline(1., color='gray', linewidth=0.8)
    label(ax, '$\\bar{m}_t / g$', 'NAdam, constant gradient $g$, default $\\beta_1$ and momentum_decay')
    save(fig, 'nadam_average.svg', metadata)

    # RAdam: r_t for two beta2
    steps = 3000
    t = list(range(1, steps + 1))
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for beta2 in (0.999, 0.99):
        r = radam_rectification(steps, betas=(0.9, beta2))
        ax.plot(t, r, label=f'$\\beta_2 = {beta2}$ (1 while SGD steps)')
    ax.axhline(0.41, color='gray', linewidth=0.8, linestyle=':')
    ax.axvline(362, color='gray', linewidth=0.8, linestyle=':')
    ax.set_xscale('log')
    label(ax, '$r_t$', 'RAdam: $r_t \\leq 0.41$ until $t = 362$ with $\\beta_2 = 0.999$')
    save(fig, 'radam_rectification.svg', metadata)

    # Low precision: Adam's v in float32, in bfloat16 rounded to nearest, and with stochastic rounding
    steps, beta2 = 5000, 0.999
    t = list(range(1, steps + 1))
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.plot(t, [1 - beta2 ** i for i in t], color='gray', linewidth=3, alpha=0.4, label='$1 - \\beta_2^t$')
    ax.plot(t, second_moment(steps), label='float32')
    ax.plot(t, second_moment_rounded_to_nearest(steps), '--', label='bfloat16, rounded to nearest: stops at 1/4')
    ax.plot(t, second_moment(steps, state_dtype=torch.bfloat16), ':', label='bfloat16, stochastic rounding')
    label(ax, '$v_t$', 'Adam, gradient 1 at every step, $\\beta_2 = 0.999$')
    save(fig, 'low_precision_lost_update.svg', metadata)


    # Muon: the quintic once and five times, in float64 and in bfloat16, next to the classic cubic
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.6, 3.6))
    cubic = (1.5, -0.5, 0.)
    sigma = [i / 200 for i in range(1, 201)]
    left.plot(sigma, muon_response(sigma, ns_steps=1), label='quintic $\\varphi(\\sigma)$ (Jordan)')
    left.plot(sigma, muon_response(sigma, ns_steps=1, ns_coefficients=cubic), '--',
              label='cubic $\\frac{3}{2}\\sigma - \\frac{1}{2}\\sigma^3$')
    left.axhline(1., color='gray', linewidth=0.8)
    label(left, 'after one iteration', 'one iteration', xlabel='singular value $\\sigma$')
    sigma = [10 ** (-3.5 + 3.5 * i / 200) for i in range(201)]
    right.plot(sigma, muon_response(sigma), label='quintic, float64')
    right.plot(sigma, muon_response(sigma, ns_dtype=torch.bfloat16), '.', markersize=3,
               label='quintic, bfloat16 (default)')
    right.plot(sigma, muon_response(sigma, ns_coefficients=cubic), '--', label='cubic, float64')
    right.axhspan(0.68, 1.20, color='gray', alpha=0.15, linewidth=0)
    right.set_xscale('log')
    label(right, 'after five iterations', 'five iterations: every $\\sigma \\geq 0.002$ lands in [0.68, 1.20]',
          xlabel='singular value $\\sigma$')
    save(fig, 'muon_newton_schulz.svg', metadata)

if __name__ == '__main__':
    draw()
