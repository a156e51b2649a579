r"""
---
title: SOAP optimizer
summary: An annotated PyTorch implementation of SOAP, Adam run in the eigenbasis of Shampoo's preconditioner, which it refreshes every few steps.
---

# SOAP

SOAP (*ShampoO with Adam in the Preconditioner's eigenbasis*), from [*SOAP: Improving and
Stabilizing Shampoo using Adam*](https://arxiv.org/abs/2409.11321) by Vyas, Morwani, Zhao, Kwun,
Shapira, Brandfonbrener, Janson and Kakade (2024), joins Shampoo, which won the external-tuning
track of the AlgoPerf benchmark of training algorithms, with Adam, which most models are trained with.
Pre-training language models of 360M and 660M parameters, SOAP needed about 40% fewer steps than
AdamW and about 35% less time, and about 20% less of both than Shampoo. It is a second-order method
for matrices: it uses the correlations between a layer's rows, and between its columns, which
[Adam](adam.html) ignores.

## Shampoo, and the basis in which it is diagonal

Adam divides each coordinate of the gradient by an estimate of its own scale: a diagonal
preconditioner. For a weight matrix $W$ of $m \times n$ with gradient $G$, Shampoo keeps two
small statistics instead, one per side,

\begin{align}
L_t &= \beta_s L_{t-1} + (1 - \beta_s) G_t G_t^\top \\
R_t &= \beta_s R_{t-1} + (1 - \beta_s) G_t^\top G_t
\end{align}

($m \times m$ and $n \times n$; the paper writes them as sums), and steps along
$L^{-1/4} G R^{-1/4}$: a preconditioner of all $mn$ coordinates, the Kronecker product
$L^{-1/4} \otimes R^{-1/4}$, kept in $m^2 + n^2$ numbers rather than $(mn)^2$. Computing the inverse
roots is expensive and numerically fragile, so Shampoo refreshes them only every so often.

Write the eigendecompositions $L = Q_L \Lambda_L Q_L^\top$ and $R = Q_R \Lambda_R Q_R^\top$, and rotate
the gradient into their eigenbases, $G' = Q_L^\top G Q_R$. In those coordinates Shampoo's
preconditioner is diagonal: it divides each coordinate $G'_{ij}$ by
$(\lambda_{L,i} \lambda_{R,j})^{1/4}$, the product of a scale of its row and one of its column.
That is a factored estimate of how large $G'_{ij}$ is, the kind Adafactor keeps (the paper shows
that Shampoo with the power $\frac{1}{2}$ in place of $\frac{1}{4}$ *is* Adafactor in this basis).
Adam's own estimate, a moving average of $G'^2_{ij}$ for every coordinate, is a better one, and
costs only the memory of $v$. **SOAP is Adam run in the eigenbasis of Shampoo's preconditioner.**

## The update

For each matrix, with $Q_L, Q_R$ from the last refresh:

\begin{align}
G'_t &\leftarrow Q_L^\top G_t Q_R \\
m_t &\leftarrow \beta_1 m_{t-1} + (1 - \beta_1) G_t \\
v_t &\leftarrow \beta_2 v_{t-1} + (1 - \beta_2) G'^2_t \\
N_t &\leftarrow Q_L \frac{Q_L^\top m_t Q_R}{\sqrt{v_t} + \epsilon} Q_R^\top \\
\theta_t &\leftarrow \Big( \theta_{t-1} - \alpha \frac{\sqrt{1 - \beta_2^t}}{1 - \beta_1^t} N_t \Big) (1 - \alpha \lambda)
\end{align}

$m_t$ is kept in the original coordinates (a linear average, it can be rotated whenever it is
needed) and $v_t$ in the rotated ones (a square cannot). Weight decay $\lambda$ is decoupled, and
follows the step. Then $L$ and $R$ take in $G_t$, and every $f$ steps (`precondition_frequency`,
10) the bases are refreshed.

**The first step only looks.** It builds $L_1$, $R_1$ from the first gradient and their bases with
a full eigendecomposition, and moves nothing, so that no step is taken in a basis made from its
own gradient. The Adam step count $t$ starts on the second step.

**Refreshing the bases.** A full eigendecomposition of $L$ costs $O(m^3)$ and, in low precision,
fails. Since $L$ changes slowly, one step of power iteration from the old basis is enough:
$Q_L \leftarrow \operatorname{QR}(L Q_L)$, the orthogonal factor of a QR decomposition. The
columns are first sorted by their estimated eigenvalues $\operatorname{diag}(Q_L^\top L Q_L)$, and
the rows of $v_t$ (for $R$, its columns) are permuted with them, so that each coordinate of $v_t$
stays with its eigenvector. $v_t$ is not rotated into the new basis: between close bases, the
old average is a good start, and the paper finds this works.

**Tensors other than matrices.** Each dimension of a tensor has its own statistic and basis,
$G' = G \times_1 Q_1^\top \times_2 Q_2^\top \cdots$, as for a matrix, and a dimension longer than
`max_precondition_dim` (10000) gets none, the identity. A vector gets none unless
`precondition_1d`, so that for biases and norms' gains SOAP is Adam. `merge_dims` first reshapes a
tensor to fewer, larger dimensions (each at most `max_precondition_dim`), such as a convolution's
kernel $(c_{out}, c_{in}, k, k)$ to $(c_{out}, c_{in} k^2)$; with `data_format='channels_last'` a
4-dimensional tensor is read as $(c_{out}, k, k, c_{in})$.

`tests/optimizers/test_soap.py` holds this page to its central claim: with the bases kept fixed,
SOAP's steps are exactly those of `torch.optim.Adam` run on $Q_L^\top W Q_R$, with $Q_L$ and $Q_R$
the eigenvectors of $L$ and $R$ built explicitly from the first gradient.

## The reference implementation, and how close we can follow it

The arguments and defaults are those of
[`pytorch_optimizer.SOAP`](https://github.com/kozistr/pytorch_optimizer) (PyPI `pytorch-optimizer`),
a port of the authors' code, and the tests hold the two together with every option, to
$10^{-5}$ in `float32` rather than the $10^{-6}$ of the other pages. An eigenvector is only as well
defined as the gap between its eigenvalue and the next: a last-bit difference in $L$ turns it by
about $\frac{\text{rounding}}{\text{gap}}$, which for close eigenvalues is far more than one
rounding, and since each refresh starts from the last basis, such a turn persists. We run the
reference's operations in its order, so on the tests' problems the two agree to about $10^{-7}$;
the allowance is for what we do not control, such as a BLAS that sums a product in another order.
In `float64` the same rounding is $10^{9}$ times smaller, and the bound is the usual $10^{-12}$.
Where the reference departs from the paper, and from torch's conventions:

* It counts steps per param group; we count them per parameter, as `torch.optim` does. They differ
  only for a parameter that skips a step without a gradient (in the reference, a parameter whose
  first gradient comes late both looks and steps on it).
* Its QR decomposition runs in `float32` even for `float64` parameters; so does ours, to stay with
  it, so the bases are orthogonal to `float32`'s precision.
* Its `merge_dims` fails with an error for a tensor whose dimensions all merge into one (a
  $5 \times 3$ matrix, say); ours preconditions it as one dimension.
* It negates `param.grad` itself for `maximize`; we leave your gradient as it was.
* `normalize_gradient=True` divides the step by its root mean square (plus $\epsilon$), an option
  beyond the paper.

## Memory and time

Adam's $m$ and $v$, 8 bytes per `float32` parameter, and for an $m \times n$ matrix four more
matrices, $L$, $R$, $Q_L$, $Q_R$: $2(m^2 + n^2)$ numbers. For a square layer that is 16 bytes per
parameter more, 24 in all, three times Adam's (`test_soap.py` counts them). Each step multiplies
matrices: three rotations ($G'$, $m'$ and the step back), each $mn(m + n)$ multiply-adds for an
$m \times n$ layer, and the statistics' $G G^\top$ and $G^\top G$, as many again: about $8 mn (m + n)$
floating-point operations, $O(m + n)$ times an element-wise update's. Each refresh adds two QR
decompositions, $O(m^3 + n^3)$. SOAP's step is bound by arithmetic, not by memory: slow on a CPU,
and cheap on a GPU, where matrix products are what it does best.

Its step [reaches](optimizer.html#reach) whole matrices, so it does not take
[the fast path](fast.html): `fast=False` is every group's default, and `fast=True` is refused;
under FSDP2 each parameter is [gathered whole](distributed.html#whole-tensors) from its shards for
the step. It runs what the reference runs, tensor products in the same order, and takes as long. Measured with `python benchmarks/optimizer_step.py --optimizers
SOAP` on this 2-core machine, shared with other jobs: for 10M parameters (16 matrices of
$1024 \times 610$ and 4 vectors) 0.84 s per step, as the reference's 0.84 s, some 130 billion
floating-point operations; for 50M ($1024 \times 3050$) 11.7 s, against 25.9 s for a reference
step that met a burst of the other jobs (stepping in turn on two of those matrices, 1.5 s against
2.1 s). The first step, with a full eigendecomposition of every statistic, took 34 s and 24 s. An
Adam step of the same models takes hundredths of a second.

## What to tune

* $\alpha$ (`lr`, $3 \times 10^{-3}$), $\beta_1, \beta_2$ (both $0.95$) and $\lambda$ (`weight_decay`,
  $0.01$): the paper's values for language models, tuned like AdamW's.
* `precondition_frequency` $f$: 10 in the paper; larger saves time and costs little until about
  100, where the paper sees SOAP degrade much more slowly than Shampoo does.
* `shampoo_beta` $\beta_s$: the decay of $L$ and $R$, $\beta_2$ when `None`.
* `max_precondition_dim`: a dimension longer than it is not rotated, which caps the memory of an
  embedding or output layer with a large vocabulary.
"""

import math
from itertools import chain
from typing import Any, Dict, List, Optional, Tuple

import torch
from torch import nn

from labml_opt.optimizer import GenericAdaptiveOptimizer, Numbers, Params


class SOAP(GenericAdaptiveOptimizer):
    """
    ## SOAP optimizer
    """

    # Its bases are eigenvectors of real statistics of whole matrices: complex parameters are refused
    supports_complex = False

    def __init__(self, params: Params, lr: float = 3e-3, betas: Tuple[float, float] = (0.95, 0.95),
                 shampoo_beta: Optional[float] = None, weight_decay: float = 1e-2, precondition_frequency: int = 10,
                 max_precondition_dim: int = 10000, merge_dims: bool = False, precondition_1d: bool = False,
                 correct_bias: bool = True, normalize_gradient: bool = False, data_format: str = 'channels_first',
                 eps: float = 1e-8, maximize: bool = False, *,
                 state_dtype: Optional[torch.dtype] = None, kahan_sum: bool = False, seed: int = 0):
        r"""
        * `shampoo_beta` is $\beta_s$, the decay of $L$ and $R$ ($\beta_2$ when `None`)
        * `precondition_frequency` is $f$, the steps between refreshes of the bases
        * `max_precondition_dim` is the longest dimension that gets a basis
        * `merge_dims`, `precondition_1d` and `data_format` choose which dimensions get one
        * `correct_bias` applies Adam's bias corrections, and `normalize_gradient` divides each
          step by its root mean square
        * `state_dtype`, `kahan_sum` and `seed` keep the state in `torch.bfloat16`, or add to a
          `bfloat16` parameter with Kahan summation, as [low-precision state](low_precision.html) explains

        and `lr`, `betas`, `weight_decay` (decoupled), `eps` and `maximize` are Adam's.
        """
        self.check('data_format', data_format, data_format in ('channels_first', 'channels_last'),
                   "'channels_first' or 'channels_last'")
        self.data_format = data_format
        defaults = dict(lr=lr, betas=betas, shampoo_beta=shampoo_beta, weight_decay=weight_decay,
                        precondition_frequency=precondition_frequency, max_precondition_dim=max_precondition_dim,
                        merge_dims=merge_dims, precondition_1d=precondition_1d, correct_bias=correct_bias,
                        normalize_gradient=normalize_gradient, eps=eps, maximize=maximize, fast=False)
        super().__init__(params, defaults, state_dtype=state_dtype, kahan_sum=kahan_sum, seed=seed)

    def check_hyperparameters(self, defaults: Dict[str, Any]):
        """The common checks, and SOAP's own."""
        super().check_hyperparameters(defaults)
        shampoo_beta = defaults['shampoo_beta']
        self.check('shampoo_beta', shampoo_beta, shampoo_beta is None or 0 <= shampoo_beta <= 1, 'None or in [0, 1]')
        for name in ('precondition_frequency', 'max_precondition_dim'):
            self.check(name, defaults[name], isinstance(defaults[name], int) and defaults[name] >= 1,
                       'an integer >= 1')

    def add_param_group(self, param_group: Dict[str, Any]):
        """A group cannot ask for the fast path: SOAP's step multiplies matrices, not elements."""
        super().add_param_group(param_group)
        self.check('fast', self.param_groups[-1]['fast'], self.param_groups[-1]['fast'] is False,
                   'False: the fast path compiles element-wise steps, and SOAP multiplies matrices')

    def reach(self, group: Dict[str, Any]) -> str:
        """Rotations by eigenvectors of whole matrices: `'matrix'`."""
        return 'matrix'

    def channels_first(self, x: torch.Tensor) -> torch.Tensor:
        r"""With `data_format='channels_last'`, a 4-dimensional $(c_{out}, k, k, c_{in})$ read as $(c_{out}, c_{in}, k, k)$."""
        return x.permute(0, 3, 1, 2) if self.data_format == 'channels_last' and x.dim() == 4 else x

    def merged_shape(self, param: torch.Tensor, group: Dict[str, Any]) -> Optional[List[int]]:
        r"""
        With `merge_dims`, the shape in which the bases see the parameter: its dimensions, channels
        first, multiplied together in order until the product would pass `max_precondition_dim`.
        `None`: the parameter's own shape.
        """
        if not group['merge_dims'] or param.dim() == 1:
            return None
        merged, product = [], 1
        for size in self.channels_first(param).shape:
            product *= size
            if product > group['max_precondition_dim']:
                merged.append(product // size)
                product = size
        return merged + [product]

    def init_state(self, state: Dict[str, Any], group: Dict[str, Any], param: nn.Parameter):
        r"""
        ### Initialize the state of a parameter

        * `exp_avg` is $m$, in the parameter's coordinates, and `exp_avg_sq` is $v$, in the
          rotated ones
        * `GG` holds a statistic ($L$, $R$, ...) for each dimension, or `None` for a dimension
          without one, and `Q` their bases, `None` until the first step
        * `shape` is the shape the bases see the parameter in, `None` if its own
        * `shampoo_beta` and `precondition_frequency` are the group's at the start, as in the reference

        The statistics are in the parameter's dtype, as in the reference, but for a `bfloat16`
        parameter whose step is [computed in `float32`](low_precision.html#step_in_float32) (with
        `kahan_sum` or a `state_dtype`): they are `float32` then, as the step's gradient is.
        """
        state['step'] = 0
        state['exp_avg'] = torch.zeros_like(param, memory_format=torch.preserve_format)
        state['exp_avg_sq'] = torch.zeros_like(param, memory_format=torch.preserve_format)
        state['shape'] = self.merged_shape(param, group)
        shape = state['shape'] if state['shape'] is not None else param.shape
        rotated = param.dim() != 1 or group['precondition_1d']
        dtype = torch.float32 if param.dtype == torch.bfloat16 and self.low_precision() else param.dtype
        state['GG'] = [torch.zeros(size, size, dtype=dtype, device=param.device)
                       if rotated and size <= group['max_precondition_dim'] else None for size in shape]
        state['Q'] = None
        state['shampoo_beta'] = group['shampoo_beta'] if group['shampoo_beta'] is not None else group['betas'][1]
        state['precondition_frequency'] = group['precondition_frequency']

    def step_numbers(self, state: Dict[str, Any], group: Dict[str, Any]) -> Numbers:
        r"""
        ### The numbers of step $t$

        The first step only builds the bases; Adam's count $t$ starts on the second.
        """
        state['step'] += 1
        step = int(state['step']) - 1
        beta1, beta2 = group['betas']
        step_size = group['lr']
        if group['correct_bias'] and step > 0:
            # $\alpha \frac{\sqrt{1 - \beta_2^t}}{1 - \beta_1^t}$
            step_size *= math.sqrt(1 - beta2 ** step) / (1 - beta1 ** step)
        return Numbers(beta1=beta1, beta2=beta2, eps=group['eps'], step_size=step_size,
                       # $1 - \alpha \lambda$
                       decay_factor=1 - group['weight_decay'] * group['lr'], decays=group['weight_decay'] != 0,
                       looks_only=step == 0, normalize=group['normalize_gradient'],
                       refresh=step > 0 and step % state['precondition_frequency'] == 0)

    def to_bases(self, state: Dict[str, Any], x: torch.Tensor) -> torch.Tensor:
        """`x`, of the parameter's shape, in the shape the bases see."""
        return x if state['shape'] is None else self.channels_first(x).reshape(state['shape'])

    def from_bases(self, state: Dict[str, Any], x: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        """`x` back in the parameter's shape, `shape`."""
        if state['shape'] is None:
            return x
        if self.data_format == 'channels_last' and len(shape) == 4:
            return x.reshape(shape[0], shape[3], shape[1], shape[2]).permute(0, 2, 3, 1)
        return x.reshape(shape)

    def project(self, state: Dict[str, Any], x: torch.Tensor, back: bool = False) -> torch.Tensor:
        r"""
        ### Rotate into the bases, or back

        $x' = x \times_1 Q_1^\top \times_2 Q_2^\top \cdots$ (for a matrix, $Q_L^\top x Q_R$), or with
        `back` $x \times_1 Q_1 \times_2 Q_2 \cdots$ ($Q_L x Q_R^\top$). Each `tensordot` contracts the
        first dimension with a basis and puts the result last, so after one per dimension they are in
        their first order again; a dimension without a basis is only moved.
        """
        shape = x.shape
        x = self.to_bases(state, x)
        for basis in state['Q']:
            if basis is None:
                x = x.permute(*range(1, x.dim()), 0)
            else:
                x = torch.tensordot(x, basis, dims=[[0], [1 if back else 0]])
        return self.from_bases(state, x, shape)

    @staticmethod
    def eigenbasis(statistic: torch.Tensor) -> torch.Tensor:
        r"""
        $Q$ of $L = Q \Lambda Q^\top$, its columns by decreasing eigenvalue. $10^{-30} I$ keeps an all-zero
        $L$ from failing; where `float32` fails to converge, `float64` is tried.
        """
        identity = torch.eye(statistic.shape[0], device=statistic.device, dtype=statistic.dtype)
        try:
            _, basis = torch.linalg.eigh(statistic + 1e-30 * identity)
        except torch.linalg.LinAlgError:
            _, basis = torch.linalg.eigh(statistic.double() + 1e-30 * identity.double())
            basis = basis.to(statistic.dtype)
        return torch.flip(basis, dims=[1])

    def refreshed_bases(self, state: Dict[str, Any]) -> List[Optional[torch.Tensor]]:
        r"""
        ### One power iteration

        For each statistic $L$ and its basis $Q$: $L Q$, its columns sorted by the estimated
        eigenvalues $\operatorname{diag}(Q^\top L Q)$, and orthonormalised by a QR decomposition (in
        `float32`, as the reference does, whatever the parameter's dtype). $v$'s coordinates along
        that dimension are sorted with them.
        """
        shape = state['exp_avg_sq'].shape
        v = self.to_bases(state, state['exp_avg_sq'])
        bases = []
        for dim, (statistic, basis) in enumerate(zip(state['GG'], state['Q'])):
            if statistic is None:
                bases.append(None)
                continue
            product = statistic @ basis
            # $\operatorname{diag}(Q^\top L Q)$, largest first
            order = torch.argsort((basis * product).sum(dim=0), descending=True)
            v = v.index_select(dim, order)
            power_iteration = product.index_select(1, order)
            q, _ = torch.linalg.qr(power_iteration.to(torch.float32))
            bases.append(q.to(power_iteration.dtype))
        state['exp_avg_sq'] = self.from_bases(state, v, shape)
        return bases

    def update_preconditioner(self, state: Dict[str, Any], grad: torch.Tensor, refresh: bool):
        r"""
        ### Take in the gradient, and refresh the bases

        $L \leftarrow \beta_s L + (1 - \beta_s) G G^\top$ for each dimension: the gradient contracted
        with itself along every other dimension. The first call builds the bases from scratch;
        later ones, every $f$ steps, refresh them.
        """
        g = self.to_bases(state, grad)
        for dim, statistic in enumerate(state['GG']):
            if statistic is not None:
                others = [*chain(range(dim), range(dim + 1, g.dim()))]
                statistic.lerp_(torch.tensordot(g, g, dims=[others, others]), 1 - state['shampoo_beta'])
        if state['Q'] is None:
            state['Q'] = [self.eigenbasis(L) if L is not None else None for L in state['GG']]
        elif refresh:
            state['Q'] = self.refreshed_bases(state)

    def step_param(self, state: Dict[str, Any], numbers: Numbers, grad: torch.Tensor, param: nn.Parameter):
        r"""
        ### Update one parameter
        """
        if numbers.looks_only:
            self.update_preconditioner(state, grad, refresh=False)
            return
        m = state['exp_avg']
        # $G' = Q_L^\top G Q_R$
        rotated = self.project(state, grad)
        # $m_t = \beta_1 m_{t-1} + (1 - \beta_1) G_t$, in the parameter's coordinates
        m.lerp_(grad, 1 - numbers.beta1)
        # $v_t = \beta_2 v_{t-1} + (1 - \beta_2) G'^2_t$, in the rotated ones
        v = state['exp_avg_sq'].lerp_(rotated.square(), 1 - numbers.beta2)
        # $N_t = Q_L \frac{Q_L^\top m_t Q_R}{\sqrt{v_t} + \epsilon} Q_R^\top$
        step = self.project(state, self.project(state, m) / v.sqrt().add_(numbers.eps), back=True)
        if numbers.normalize:
            # $N_t / (\operatorname{rms}(N_t) + \epsilon)$
            step.div_(step.square().mean().sqrt_().add_(numbers.eps))
        # $\theta_t = \theta_{t-1} - \alpha \frac{\sqrt{1 - \beta_2^t}}{1 - \beta_1^t} N_t$
        # (not compiled, so a Python number may go in `alpha`, as the reference has it)
        param.add_(step, alpha=-numbers.step_size)
        if numbers.decays:
            # $\theta_t \leftarrow \theta_t (1 - \alpha \lambda)$
            param.mul_(numbers.decay_factor)
        self.update_preconditioner(state, grad, numbers.refresh)
