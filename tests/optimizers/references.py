r"""
Independent references for what `torch.optim` does not have: algorithms written out from their
papers as plain, out-of-place tensor code (AdaBelief, RAdam with AMSGrad, Sophia), the closed forms
of the learning-rate schedules, and decoupled weight decay added in front of any optimizer.
None of this imports labml_opt.
"""

import contextlib
import inspect
import math
from typing import Any, Callable, Dict, List, Tuple

import torch


# Our options for low-precision state, which the reference classes do not have
LOW_PRECISION_OPTIONS = ('state_dtype', 'kahan_sum', 'seed')


def arguments(cls: type) -> List[Tuple[str, Any]]:
    """
    The names and defaults of the arguments of `cls`, in order, but for a `**kwargs` and our
    low-precision options.
    """
    return [(name, p.default) for name, p in inspect.signature(cls).parameters.items()
            if p.kind is not inspect.Parameter.VAR_KEYWORD and name not in LOW_PRECISION_OPTIONS]


def decayed(cls: type, absolute: bool = False) -> type:
    r"""
    `cls` with decoupled weight decay in front of its step: $\theta \leftarrow \theta (1 - \alpha \lambda)$,
    or $\theta (1 - \lambda)$ when `absolute`, then `cls`'s own step without decay. Each group's
    $\lambda$ is its `weight_decay`, moved to `decoupled_decay` so that `cls` does not also apply it.
    """

    class DecayFirst(cls):
        def __init__(self, params, weight_decay: float = 0., **kwargs):
            groups = [dict(group) for group in params]
            for group in groups:
                group['decoupled_decay'] = group.pop('weight_decay', weight_decay)
            super().__init__(groups, **kwargs)

        @torch.no_grad()
        def step(self, closure=None):
            for group in self.param_groups:
                rate = group['decoupled_decay'] * (1 if absolute else group['lr'])
                for p in group['params']:
                    if p.grad is not None:
                        p.mul_(1 - rate)
            return super().step(closure)

    DecayFirst.__name__ = f'{cls.__name__}With{"Absolute" if absolute else "Decoupled"}Decay'
    return DecayFirst


def scheduled(lr_at: Callable[[int, Dict[str, Any]], float], **schedule_defaults) -> type:
    r"""
    `torch.optim.Adam` whose groups' `lr` at step $t$ (counting from one) is `lr_at(t, group)`:
    each group's `lr` is the schedule's peak or factor, and its schedule keys (`warmup`, ...)
    default to `schedule_defaults`.
    """

    class ScheduledAdam(torch.optim.Adam):
        def __init__(self, params, **kwargs):
            schedule = {key: kwargs.pop(key, value) for key, value in schedule_defaults.items()}
            super().__init__([{**schedule, **group} for group in params], **kwargs)
            self.t = 0

        def step(self, closure=None):
            self.t += 1
            peaks = [group['lr'] for group in self.param_groups]
            for group in self.param_groups:
                group['lr'] = lr_at(self.t, group)
            loss = super().step(closure)
            for group, peak in zip(self.param_groups, peaks):
                group['lr'] = peak
            return loss

    return ScheduledAdam


def warmup_lr(t: int, group: Dict[str, Any]) -> float:
    r"""$\alpha \min(1, t / w)$; no warm-up when $w = 0$."""
    if group['warmup'] == 0:
        return group['lr']
    return group['lr'] * min(1., t / group['warmup'])


def cosine_lr(t: int, group: Dict[str, Any]) -> float:
    """Linear warm-up to alpha over w steps, half a cosine down to r * alpha at T, then r * alpha."""
    lr, w, total, r = group['lr'], group['warmup'], group['total_steps'], group['final_lr_ratio']
    if t <= w:
        return lr * t / w
    if t >= total:
        return lr * r
    return lr * (r + (1 - r) * (1 + math.cos(math.pi * (t - w) / (total - w))) / 2)


def noam_lr(t: int, group: Dict[str, Any]) -> float:
    """factor * d_model^-0.5 * min(t^-0.5, t * w^-1.5), from section 5.3 of the Transformer paper."""
    return group['lr'] * group['d_model'] ** -0.5 * min(t ** -0.5, t * group['warmup'] ** -1.5)


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype):
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


class NAdamInParamDtype(torch.optim.NAdam):
    """
    torch.optim.NAdam keeps `mu_product` in a tensor of the *default* dtype, so it rounds the
    product to float32 even for float64 parameters (about 1e-10 apart after 200 steps). This one
    steps with the parameters' dtype as the default, to compare float64 to 1e-12.
    """

    def step(self, closure=None):
        with default_dtype(self.param_groups[0]['params'][0].dtype):
            return super().step(closure)


def rectification(beta2: float, t: int):
    r"""RAdam's $r_t$ (Liu et al. 2019), or `None` while $\rho_t \le 5$ and the step is not rectified."""
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * t * beta2 ** t / (1 - beta2 ** t)
    if rho_t <= 5:
        return None
    return math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))


class PaperOptimizer(torch.optim.Optimizer):
    """
    The shell of the references below: $L_2$ weight decay and `maximize` on the gradient, a step
    counter per parameter, and `update(p, g, state, group, t)` written out of place.
    """

    def __init__(self, params, maximize: bool = False, **defaults):
        super().__init__(params, dict(defaults, maximize=maximize))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group['params']:
                if p.grad is None:
                    continue
                g = -p.grad if group['maximize'] else p.grad
                g = g + group['weight_decay'] * p
                state = self.state[p]
                if not state:
                    self.init(state, p)
                state['t'] += 1
                p.copy_(self.update(p, g, state, group, state['t']))

    def init(self, state, p):
        raise NotImplementedError

    def update(self, p, g, state, group, t):
        raise NotImplementedError


class AdaBeliefReference(PaperOptimizer):
    r"""
    Algorithm 2 of Zhuang et al. (2020):

    $m_t = \beta_1 m_{t-1} + (1 - \beta_1) g_t$,
    $s_t = \beta_2 s_{t-1} + (1 - \beta_2)(g_t - m_t)^2 + \epsilon$,
    with AMSGrad $s^{\max}_t = \max(s^{\max}_{t-1}, s_t)$ kept beside $s_t$ (as in the authors' code),
    $\hat{m}_t = m_t / (1 - \beta_1^t)$, $\hat{s}_t = s_t / (1 - \beta_2^t)$,
    $\theta_t = \theta_{t-1} - \alpha \hat{m}_t / (\sqrt{\hat{s}_t} + \epsilon)$.

    `rectify` replaces the last line by RAdam's (Liu et al. 2019) with the authors' $\epsilon$
    placement: $\theta_t = \theta_{t-1} - \alpha r_t \hat{m}_t \sqrt{1 - \beta_2^t} / (\sqrt{s_t} + \epsilon)$
    when $\rho_t > 5$, else $\theta_t = \theta_{t-1} - \alpha \hat{m}_t$.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-16, weight_decay=0., amsgrad=False, rectify=True,
                 maximize=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         rectify=rectify, maximize=maximize)

    def init(self, state, p):
        state.update(t=0, m=torch.zeros_like(p), s=torch.zeros_like(p), s_max=torch.zeros_like(p))

    def update(self, p, g, state, group, t):
        (beta1, beta2), lr, eps = group['betas'], group['lr'], group['eps']
        state['m'] = beta1 * state['m'] + (1 - beta1) * g
        state['s'] = beta2 * state['s'] + (1 - beta2) * (g - state['m']) ** 2 + eps
        state['s_max'] = torch.maximum(state['s_max'], state['s'])
        s = state['s_max'] if group['amsgrad'] else state['s']
        m_hat = state['m'] / (1 - beta1 ** t)
        if not group['rectify']:
            return p - lr * m_hat / ((s / (1 - beta2 ** t)).sqrt() + eps)
        r = rectification(beta2, t)
        if r is None:
            return p - lr * m_hat
        return p - lr * r * m_hat * (1 - beta2 ** t) ** 0.5 / (s.sqrt() + eps)


class AMSGradRAdamReference(PaperOptimizer):
    r"""
    RAdam as torch documents it, with AMSGrad's $v^{\max}_t = \max(v^{\max}_{t-1}, v_t)$ in place of
    $v_t$ in the adaptive term $\sqrt{1 - \beta_2^t} / (\sqrt{v^{\max}_t} + \epsilon)$.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0., maximize=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize)

    def init(self, state, p):
        state.update(t=0, m=torch.zeros_like(p), v=torch.zeros_like(p), v_max=torch.zeros_like(p))

    def update(self, p, g, state, group, t):
        (beta1, beta2), lr = group['betas'], group['lr']
        state['m'] = beta1 * state['m'] + (1 - beta1) * g
        state['v'] = beta2 * state['v'] + (1 - beta2) * g * g
        state['v_max'] = torch.maximum(state['v_max'], state['v'])
        m_hat = state['m'] / (1 - beta1 ** t)
        r = rectification(beta2, t)
        if r is None:
            return p - lr * m_hat
        return p - lr * r * m_hat * (1 - beta2 ** t) ** 0.5 / (state['v_max'].sqrt() + group['eps'])


class SophiaReference(PaperOptimizer):
    r"""
    Algorithm 3 of Liu et al. (2023): $m_t = \beta_1 m_{t-1} + (1 - \beta_1) g_t$,
    $\theta_{t+1} = \theta_t - \eta \operatorname{clip}(m_t / \max(\rho h_t, \epsilon), 1)$, and,
    when asked, $h_t = \beta_2 h_{t-k} + (1 - \beta_2) B \hat{g}^2$ for the sampled-label gradient
    $\hat{g}$ in `p.grad`. The paper's decay is decoupled: use `decayed(SophiaReference)`.
    `clipped` records, per step, the fraction of coordinates whose ratio was clipped.
    """

    def __init__(self, params, lr=1e-4, betas=(0.965, 0.99), rho=0.04, eps=1e-15, weight_decay=0., maximize=False):
        super().__init__(params, lr=lr, betas=betas, rho=rho, eps=eps, weight_decay=weight_decay,
                         maximize=maximize)
        self.clipped = []

    def init(self, state, p):
        state.update(t=0, m=torch.zeros_like(p), h=torch.zeros_like(p))

    @torch.no_grad()
    def update_hessian(self, batch_size: int):
        for group in self.param_groups:
            beta2 = group['betas'][1]
            for p in group['params']:
                state = self.state[p]
                if not state:
                    self.init(state, p)
                state['h'] = beta2 * state['h'] + (1 - beta2) * batch_size * p.grad ** 2

    @torch.no_grad()
    def step(self, closure=None):
        self.counts = [0, 0]
        super().step(closure)
        self.clipped.append(self.counts[0] / self.counts[1])

    def update(self, p, g, state, group, t):
        beta1 = group['betas'][0]
        state['m'] = beta1 * state['m'] + (1 - beta1) * g
        ratio = state['m'] / torch.maximum(group['rho'] * state['h'], torch.full_like(p, group['eps']))
        self.counts[0] += (ratio.abs() > 1).sum().item()
        self.counts[1] += ratio.numel()
        return p - group['lr'] * ratio.clamp(-1, 1)


class MuonAndAdamW(torch.optim.Optimizer):
    """
    Jordan's `MuonWithAuxAdam`, composed of torch's own classes: `torch.optim.Muon` steps the groups
    with `use_muon=True` and `torch.optim.AdamW` the others, each group with the defaults of the
    authors' reference code. The two share this optimizer's group dicts, so a scheduler drives both.
    """

    MUON_DEFAULTS = dict(lr=0.02, momentum=0.95, weight_decay=0.)
    ADAM_DEFAULTS = dict(lr=3e-4, betas=(0.9, 0.95), eps=1e-10, weight_decay=0.)

    def __init__(self, param_groups):
        groups = [dict(group) for group in param_groups]
        muon = [group for group in groups if group['use_muon']]
        adamw = [group for group in groups if not group['use_muon']]
        self.muon = torch.optim.Muon(muon, **self.MUON_DEFAULTS) if muon else None
        self.adamw = torch.optim.AdamW(adamw, **self.ADAM_DEFAULTS) if adamw else None
        super().__init__([{'params': group['params']} for group in groups], {})
        # Each group once, filled in by its own optimizer, in the order given
        own = iter((self.muon.param_groups if self.muon else []))
        other = iter((self.adamw.param_groups if self.adamw else []))
        self.param_groups = [next(own) if group['use_muon'] else next(other) for group in groups]

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for optimizer in (self.muon, self.adamw):
            if optimizer is not None:
                optimizer.step()
        return loss


class JordanMuon(torch.optim.Optimizer):
    r"""
    Muon as Jordan's reference code (KellerJordan/Muon, `muon_update`) computes it, for 2-D
    parameters: the same algorithm as torch's, with the same `bfloat16` iteration written in another
    order ($b A + (c A) A$ and $a X + B X$ as separate operations) and $\lVert X \rVert_F + 10^{-7}$
    instead of a floor. It stands for what another correct implementation of Muon rounds to.
    """

    def __init__(self, params, lr=0.02, weight_decay=0., momentum=0.95):
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay, momentum=momentum))

    @staticmethod
    def orthogonalize(update, steps=5):
        a, b, c = (3.4445, -4.7750, 2.0315)
        x = update.bfloat16()
        tall = update.size(-2) > update.size(-1)
        if tall:
            x = x.mT
        x = x / (x.norm(dim=(-2, -1), keepdim=True) + 1e-7)
        for _ in range(steps):
            gram = x @ x.mT
            polynomial = b * gram + c * gram @ gram
            x = a * x + polynomial @ x
        return x.mT if tall else x

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group['params']:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state['momentum_buffer'] = torch.zeros_like(p)
                buffer = state['momentum_buffer']
                buffer.lerp_(p.grad, 1 - group['momentum'])
                update = self.orthogonalize(p.grad.lerp(buffer, group['momentum']))
                update = update * max(1, p.size(-2) / p.size(-1)) ** 0.5
                p.mul_(1 - group['lr'] * group['weight_decay'])
                p.add_(update, alpha=-group['lr'])


class AdafactorPaperReference(torch.optim.Optimizer):
    r"""
    Adafactor as Algorithms 4 and 5 of Shazeer and Stern (2018) write it, with $\beta_1 = 0$,
    relative steps and update clipping, for matrices and vectors: $\epsilon_1$ is added to $g_t^2$,
    $R_t$ and $C_t$ average row and column *sums*, $\hat{V}_t = R_t C_t / 1^\top R_t$,
    $U_t = g_t / \sqrt{\hat{V}_t}$, $\hat{U}_t = U_t / \max(1, \operatorname{RMS}(U_t) / d)$,
    $\rho_t = \min(10^{-2}, 1 / \sqrt{t})$, $\alpha_t = \max(\epsilon_2, \operatorname{RMS}(\theta_{t-1})) \rho_t$,
    $\hat{\beta}_{2,t} = 1 - t^{-0.8}$. No weight decay: the paper has none. Out of place throughout.
    """

    def __init__(self, params, eps1=1e-30, eps2=1e-3, d=1.0, decay_rate=-0.8, relative_step_cap=1e-2):
        super().__init__(params, dict(eps1=eps1, eps2=eps2, d=d, decay_rate=decay_rate, cap=relative_step_cap))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group['params']:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state['t'] = 0
                    state['R'] = torch.zeros(p.shape[0], 1, dtype=p.dtype) if p.dim() == 2 else None
                    state['C'] = torch.zeros(1, p.shape[1], dtype=p.dtype) if p.dim() == 2 else None
                    state['V'] = torch.zeros_like(p) if p.dim() < 2 else None
                state['t'] += 1
                t = state['t']
                beta2 = 1 - t ** group['decay_rate']
                rho = min(group['cap'], 1 / t ** 0.5)
                rms = lambda x: (x.square().mean()).sqrt().item()  # noqa: E731
                alpha = max(group['eps2'], rms(p)) * rho
                squared = p.grad * p.grad + group['eps1']
                if p.dim() == 2:
                    state['R'] = beta2 * state['R'] + (1 - beta2) * squared.sum(dim=1, keepdim=True)
                    state['C'] = beta2 * state['C'] + (1 - beta2) * squared.sum(dim=0, keepdim=True)
                    v_hat = state['R'] @ state['C'] / state['R'].sum()
                else:
                    state['V'] = beta2 * state['V'] + (1 - beta2) * squared
                    v_hat = state['V']
                update = p.grad / v_hat.sqrt()
                update = update / max(1., rms(update) / group['d'])
                p.copy_(p - alpha * update)


class LAMBReference(PaperOptimizer):
    r"""
    Algorithm 2 of You et al. (2019), as published (arXiv v5): $m_t$ and $v_t$ as in Adam,
    $r_t = \frac{\hat{m}_t}{\sqrt{\hat{v}_t} + \epsilon}$, and for each tensor
    $x_t = x_{t-1} - \eta \frac{\phi(\lVert x_{t-1} \rVert)}{\lVert r_t + \lambda x_{t-1} \rVert} (r_t + \lambda x_{t-1})$,
    with $\phi(z) = \min(z, 10)$ and a ratio of one where a norm is zero. The decay $\lambda$ is
    kept as `decay`, so that the shell adds nothing to the gradient.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), weight_decay=0., eps=1e-6, maximize=False):
        groups = [dict(group, decay=group.pop('weight_decay', weight_decay)) for group in
                  (params if isinstance(params[0], dict) else [{'params': params}])]
        super().__init__(groups, lr=lr, betas=betas, eps=eps, decay=weight_decay, weight_decay=0.,
                         maximize=maximize)

    def init(self, state, p):
        state.update(t=0, m=torch.zeros_like(p), v=torch.zeros_like(p))

    def update(self, p, g, state, group, t):
        (beta1, beta2), lr = group['betas'], group['lr']
        state['m'] = beta1 * state['m'] + (1 - beta1) * g
        state['v'] = beta2 * state['v'] + (1 - beta2) * g * g
        r = (state['m'] / (1 - beta1 ** t)) / ((state['v'] / (1 - beta2 ** t)).sqrt() + group['eps'])
        r = r + group['decay'] * p
        weight_norm, r_norm = min(p.norm().item(), 10.), r.norm().item()
        ratio = weight_norm / r_norm if weight_norm > 0 and r_norm > 0 else 1.
        return p - lr * ratio * r
