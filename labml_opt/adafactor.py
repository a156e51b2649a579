r"""
---
title: Adafactor optimizer
summary: An annotated PyTorch implementation of Adafactor, which keeps the second moment of an n by m matrix in n + m numbers instead of n m, and sizes its steps relative to the weights.
---

# Adafactor

Adafactor, from [*Adafactor: Adaptive Learning Rates with Sublinear Memory
Cost*](https://arxiv.org/abs/1804.04235) by Shazeer and Stern (2018), is the optimizer that
trained T5 and much of Google's work on large language models on TPUs, where memory, not
compute, limited the size of a model. [Adam](adam.html) keeps two numbers of state for every
weight, twice the memory of the model itself; Adafactor keeps, for a weight matrix, a number per
row and a number per column, and none for momentum. It is in PyTorch as `torch.optim.Adafactor`.

## The problem: Adam's state is as large as the model, twice

Adam divides each coordinate's step by $\sqrt{\hat{v}_t}$, the root of a moving average of its
squared gradients. For a matrix $\theta \in \mathbb{R}^{n \times m}$, $v_t$ is another $n \times m$
matrix. Shazeer and Stern observe that it need not be stored in full: a matrix of positive numbers
is approximated well by a matrix of rank one, $v \approx R C / \sum_i R_i$, built from its row
sums $R$ and its column sums $C$. (It is the rank-one matrix closest to $v$ in the generalized
Kullback-Leibler divergence, and it is exact when $v$ is itself of rank one.) The averages of the
row and column sums of $g_t^2$ are the row and column sums of $v_t$, so Adafactor averages those
$n + m$ numbers and rebuilds the $n m$ estimates when it needs them:

\begin{align}
R_t &\leftarrow \hat{\beta}_{2,t} R_{t-1} + (1 - \hat{\beta}_{2,t}) \operatorname{mean}_j \big( g_t^2 \big)_{ij} \\
C_t &\leftarrow \hat{\beta}_{2,t} C_{t-1} + (1 - \hat{\beta}_{2,t}) \operatorname{mean}_i \big( g_t^2 \big)_{ij} \\
\hat{V}_t &\leftarrow \frac{R_t C_t}{\max(\operatorname{mean}_i R_t, \epsilon_1)}
\end{align}

with means rather than the paper's sums, which is the same $\hat{V}_t$ (the factors $m$, $n$ and
$n m$ cancel) with smaller numbers. A vector, a bias, has no rows and columns to factor: it keeps
its full average $\hat{V}_t = \hat{\beta}_{2,t} \hat{V}_{t-1} + (1 - \hat{\beta}_{2,t}) g_t^2$.
A tensor of more than two dimensions is factored over its last two, for each index of the others.

## The rest of the update

Without momentum and without $\hat{m}_t$, the rest of Adam's machinery changes too:

\begin{align}
\hat{\beta}_{2,t} &= 1 - t^{\nu} \\
\rho_t &= \min \Big( \alpha, \frac{1}{\sqrt{t}} \Big) \\
\alpha_t &= \max \big( \epsilon_2, \operatorname{RMS}(\theta_{t-1}) \big) \rho_t \\
U_t &= \frac{g_t}{\max \big( \sqrt{\hat{V}_t}, \epsilon_1 \big)} \\
\theta_t &\leftarrow \theta_{t-1} (1 - \alpha \lambda)
  - \frac{\alpha_t}{\max \big( 1, \operatorname{RMS}(U_t) / d \big)} U_t
\end{align}

where $\operatorname{RMS}(x) = \sqrt{\operatorname{mean}(x^2)}$ over the whole tensor.

* **A decay rate that grows, instead of bias correction.** With $\nu = -0.8$ (`beta2_decay`),
  $\hat{\beta}_{2,t} = 1 - t^{-0.8}$ is $0$ at the first step, $0.43$ at the second, $0.84$ at the
  tenth and $0.9994$ at the ten-thousandth. Since $\hat{\beta}_{2,1} = 0$, the first estimate is
  $g_1^2$ itself, and every later one is a weighted average of the squared gradients so far whose
  weights sum to one (with $\nu = -1$, their plain mean): there is no start at zero to correct for.
  The average forgets quickly while the weights change quickly, and remembers longer as training
  settles.
* **Update clipping.** Without momentum, a stale $\hat{V}_t$ can be much smaller than the current
  $g_t^2$, and $U_t$ much larger than one. Where its root mean square exceeds $d$ (`d`, $1$ by
  default) the whole update is scaled down to it.
* **Steps relative to the weights.** $\alpha_t$ is $\rho_t$ times the size of the weights, so a
  weight matrix of entries around $0.05$ moves by a fraction of that, whatever its scale; the
  floor $\epsilon_2$ lets weights that start at zero move. $\rho_t$ decays as $\frac{1}{\sqrt{t}}$
  from the cap $\alpha$ (`lr`) on.

## Memory per parameter

For an $n \times m$ matrix, $n + m$ numbers of second moment instead of Adam's $2 n m$:
`tests/optimizers/test_adafactor.py` counts them in the state. For a $1024 \times 4096$ matrix in
`float32` that is 20 KB next to Adam's 32 MB, $0.005$ bytes per parameter; a vector keeps 4 bytes
per element. During a step, $g_t^2$ and then $U_t$ (or $\hat{V}_t^{-1/2}$) are built in one temporary of at most
[`BAND`](#bands) elements, 16 MiB in `float32` (a vector's is of its size).

## Cost per step

<a id="floor"></a>

**The floor.** A factored second moment is small, but it makes a step of three passes over the
gradient, each of which needs sums that the one before it finished:

1. the row and column means of $g_t^2$, which set $R_t$ and $C_t$, and $\operatorname{RMS}(\theta_{t-1})$,
   which sets $\alpha_t$: reads $g_t$ and $\theta$;
2. $\operatorname{RMS}(U_t)$, the clipping, which needs every $\hat{V}_t = R_t C_t / \operatorname{mean}(R_t)$
   and so the finished means: reads $g_t$ again;
3. the step, which needs the clipping: reads $g_t$ and $\theta$, writes $\theta$.

That is 6 tensors of 4 bytes, 24 bytes per `float32` parameter, the floor that
[the benchmark](fast.html#benchmark) divides by; an element-wise optimizer like
[AdamW](adamw.html) moves 28 in one pass.

**What this machine charges.** That floor prices every byte at the bandwidth of an in-place
pass, which reads a tensor and writes it back, so a byte read and a byte written cost the same.
On this machine they do not: a pass that only reads a tensor takes about as long as one that
reads it and writes it back, and each tensor a pass reads costs about 6 ms for 50M parameters,
whatever it writes (the second table [below](#measured)). Fused Adam reads 4 tensors and writes 3;
Adafactor's three passes read 5 and write 1. Priced by what they read, the three passes take
$\frac{5}{4}$ of Adam's time, not $\frac{24}{28}$ of it: about $\frac{24 / 28}{5 / 4} \approx 69\%$
of the floor is as fast as any implementation of them can be here, and 85% is out of reach. A
matrix whose $g_t^2$ stays in the cache from pass 1 to pass 2 reads 4 tensors, and could reach
about 86%.

**As written.** The step makes the three passes of the floor, over [bands](#bands) of whole rows of
at most $2^{22}$ elements, 16 MiB in `float32`: a band's temporary stays in the L3 cache from one
operation to the next, and only $g_t$ and $\theta$ come from memory. Pass 1 squares a band of $g_t$
into the temporary and takes from it both the band's row means and its column sums. When no entry
of $\hat{V}_t^{-1/2}$ reaches its cap, which takes a whole row or column of gradients that are
zero or about as small as $\epsilon_1$, $U_t$ is never built: pass 2 takes its norm from $g_t^2$ with a matrix-vector
product, and pass 3 writes $\hat{V}_t^{-1/2}$ into the temporary, from its factors, and adds $g_t$
times it to $\theta$ ([factored](#factored)). Otherwise pass 2 builds the band's $U_t$ in the temporary, caps
it and takes its norm, and pass 3 builds it again, rather than keep a full-size $U_t$ in fresh
memory, and adds it to $\theta$ (a matrix of one band keeps its $U_t$ from pass 2). A few choices
make the passes cheap; each changes how the numbers round, not what they are:

<a id="dot"></a>

* **The sum of squares of $\theta$** is `torch.dot` of the flat weights with themselves, a read of
  the weights at the speed of memory. `param.norm(2)`, torch's, took 1.4 times as long on the
  benchmark's matrices, and was less accurate: on a $1024 \times 3052$ matrix of $\mathcal{N}(0, 1)$
  entries its square was $1.2 \cdot 10^{-4}$ below the sum in `float64`, the dot product
  $1.5 \cdot 10^{-5}$.
* **A factored norm.** $\lVert U_t \rVert^2 = \sum_i r_i^2 \sum_j (g_t^2)_{ij} c_j^2$ reads
  $g_t^2$ once, as a matrix times the vector $c^2$; a matrix of one band still has $g_t^2$ in the
  cache from pass 1, so its pass 2 reads nothing from memory.
* **Column sums of a square.** torch takes the column means as `torch.norm(grad, dim=-2)`, which
  ATen computes with a scalar loop down each column, each addition waiting for the one before: on
  one thread it took 9 times as long as the norms of the rows (91 ms against 10 for the
  benchmark's 50M parameters), about half of torch's step. The column sums of $g_t^2$ in the cache
  are added with vector instructions across the columns. (`torch.linalg.vector_norm` takes the
  same loop.)
* **Roots of the factors.** $\hat{V}_t^{-1/2} = \big( R_t / \max(\operatorname{mean}_i R_t, \epsilon_1) \big)^{-1/2} C_t^{-1/2}$:
  $n + m$ roots, where torch divides and takes a root for each of the $n m$ entries, which costs
  more than their bytes. The floor $\epsilon_1$ under $\sqrt{\hat{V}_t}$ becomes a ceiling
  $1 / \epsilon_1$ over $\hat{V}_t^{-1/2}$; a row or a column of zeros gives $\infty$, which the
  ceiling caps, as torch's floor does.

So this page no longer matches `torch.optim.Adafactor` bit for bit: `tests/optimizers/test_adafactor.py`
holds it to $10^{-6}$ in `float32` and $10^{-12}$ in `float64` after 200 steps, as the other pages'
tests hold theirs (the largest differences seen are $2.7 \cdot 10^{-7}$ and $8.2 \cdot 10^{-16}$), also
with gradients of $10^{-5}$, with rows and columns of zeros, with rows whose floor binds, and with
bands of 8 elements, so that each test matrix is 2 to 6 bands.

In CPU time on one thread and in wall time on two, paired with torch's for-loop and with fused
Adam, whose one loop runs at about its floor (Adam's floor is 28 bytes per parameter; at Adam's
bandwidth, this one's 24 bytes take $24 / 28$ of Adam's time):

<a id="measured"></a>

[[include: results/adafactor_step.md]]

That run shared the machine's memory with work it does not show, which took bandwidth in bursts
of a second or two. The step is faster than torch's, 1.5 to 6 times, the more so the longer its
columns, but at 32 to 44% of its floor at Adam's bandwidth here (50% in [the benchmark's
table](fast.html#benchmark)), not at 85%: a pass is a handful of torch operations on each band,
each a loop of its own over a band in the cache, with Python between them, and the second table
says why 85% is out of reach of three passes on this machine anyway ([what it
charges](#floor)): each tensor read costs 5.6 to 6.6 ms at 50M, and a tensor written beside it
almost nothing. The dot product and the factored passes took the step on one thread from 97 to
72 ms at 50M, and from 103 to 91 ms on the two large matrices, against the run before them (at
02:28, on a machine busy with other work; the same command). Before the changes of the session
before, with torch's operations, it took about 0.8 times torch's for-loop (by the numbers this page
gave then). The rows on two threads vary most on a busy machine, where each of those operations
waits for both cores: one run at a load average of 2.7 measured 108 ms at 10M instead of 12, and
one of this session's, while the memory was busiest, 131 ms at 50M instead of 64.

**Not compiled.** Its means need the rows and columns of each matrix, which a flat loop does not
have, so Adafactor's update [reaches](optimizer.html#reach) the whole matrix and runs as written at
every size (under FSDP2, on the matrix [gathered whole](distributed.html#whole-tensors) from its
shards). Written with torch's operations and recorded on stand-ins with a symbol for each
dimension, its Python numbers written as 0-d tensors, it did compile (within $5 \cdot 10^{-7}$ of the
code as written after 30 steps), but the loops ran slower than the code: 5.5 times an Adam step
of the same parameters against 4.1, in CPU time on one thread at 10M. Inductor summed the
columns with the columns in the outer loop, a pass 13 times as slow as the one over rows; it added
the two norms through a helper that keeps the rounding error of long `float32` sums small; and
$U_t$'s square root and division for each entry cost more than its bytes. Compiled on its own by
`torch.compile` with the shapes as symbols, pass 1 of the code above (the row and column sums of
$g_t^2$) took 29 ms for the benchmark's matrices of 50M parameters on one thread, where torch's two
norms took 100: a fused pass 1 is where a compiled step of matrices would start.

<a id="tuning"></a>

## What to tune

* **$\alpha$** (`lr`): the cap of $\rho_t$, $10^{-2}$ as in the paper. It does not scale the step the
  way Adam's learning rate does: the step is $\rho_t \operatorname{RMS}(\theta)$, and for
  $t > 1 / \alpha^2$ ($10^4$ steps at the default) the cap no longer binds and $\alpha$ only sets
  the weight decay $\alpha \lambda$. A learning-rate schedule on `lr` therefore acts only early on.
* **$\lambda$** (`weight_decay`), decoupled and scaled by $\alpha$ as in [AdamW](adamw.html).
* **$\nu$** (`beta2_decay`) $-0.8$, **$d$** $1$, **$\epsilon_2$** $10^{-3}$: the paper's, rarely
  changed. $\epsilon_2$ matters for weights initialized at zero, which would otherwise never move.
* T5 trained with Adafactor at a constant $\rho_t = 10^{-2}$ for its first $10^4$ steps and an
  inverse square root decay after it, which is the schedule above.

## The reference implementation, and where it departs from the paper

The arguments, defaults, state (`step`, `row_var`, `col_var` for matrices, `variance` for vectors)
and errors are those of `torch.optim.Adafactor` in torch 2.13, and the tests hold this page to
it, to the last bits of their rounding ([cost per step](#floor)); `state_dict`s load from one into
the other. torch departs from the paper in three places,
which its documentation lists and this page follows:

* **$\epsilon_1$.** The paper adds $\epsilon_1 = 10^{-30}$ to $g_t^2$ before averaging; torch leaves
  $R$ and $C$ alone and puts $\epsilon_1$ in two floors, under $\operatorname{mean}_i R_t$ and under
  $\sqrt{\hat{V}_t}$. With `eps=(1e-30, 1e-3)` the two are the same algorithm: the tests hold this
  class to the paper's, written out with its sums, to $10^{-12}$ in `float64`, for gradients of
  size $1$ and of size $10^{-5}$. But torch's default `eps=(None, 1e-3)` takes $\epsilon_1$ to be
  the machine epsilon of the parameter's dtype, $1.2 \cdot 10^{-7}$ in `float32`, and then the floor
  under $\operatorname{mean}_i R_t$ binds whenever the gradient's mean square is below it, for
  gradients of root mean square below $3.5 \cdot 10^{-4}$, common late in training. $\hat{V}_t$
  then shrinks by the same factor over the whole matrix and $U_t$ grows by its root, until update
  clipping caps its root mean square at $d$: steps that the paper keeps below $d$ come out larger,
  up to $d$. With gradients of
  $10^{-4}$ the tests' problem ends $0.03$ away from the paper's after 200 steps. Pass
  `eps=(1e-30, 1e-3)` for the paper's algorithm.
* **`lr`.** The paper caps $\rho_t$ at a constant $10^{-2}$; torch makes the cap the learning rate,
  with $10^{-2}$ as its default, so that schedulers can drive it.
* **Weight decay** is torch's addition, decoupled, scaled by $\alpha$; the paper has none.

The paper's optional momentum ($\beta_1$), its factoring of only the two largest dimensions,
and its choice of step without the relative scale are not in torch's class, nor in this one.
Two details of torch's code differ here: with $\epsilon_1$ left at `None`, torch takes the machine
epsilon of the first parameter of a group with a gradient for the whole group, and this class
that of each parameter's own dtype (the same in a group of one dtype). Like torch, it refuses a
complex parameter at the first step.
"""

import math
from typing import Any, Dict, List, Optional, Tuple

import torch
from torch import nn

from labml_opt.optimizer import GenericAdaptiveOptimizer, Numbers, Params, WeightDecay

# The elements of a band of rows, 16 MiB in `float32`: a band's temporary stays in this machine's
# L3 cache (32 MiB) from one operation on it to the next
BAND = 1 << 22


class Adafactor(GenericAdaptiveOptimizer):
    """
    ## Adafactor optimizer
    """

    # Complex numbers as pairs of reals have no meaning for an update of whole matrices
    supports_complex = False

    def __init__(self, params: Params, lr: float = 1e-2, beta2_decay: float = -0.8,
                 eps: Tuple[Optional[float], float] = (None, 1e-3), d: float = 1.0, weight_decay: float = 0.0, *,
                 foreach: Optional[bool] = None, maximize: bool = False):
        r"""
        * `params` is the list of parameters, or of param groups
        * `lr` is $\alpha$, the cap of the relative step size $\rho_t$
        * `beta2_decay` is $\nu$, in $\hat{\beta}_{2,t} = 1 - t^{\nu}$
        * `eps` is the pair $(\epsilon_1, \epsilon_2)$; $\epsilon_1$ `None` is the machine epsilon of
          the parameter's dtype
        * `d` is the clipping threshold $d$
        * `weight_decay` is the decoupled decay $\lambda$
        * `maximize` ascends the objective instead of descending it
        * `foreach` is torch's implementation keyword; see
          [`implementation_options`](optimizer.html#GenericAdaptiveOptimizer)
        """
        self.weight_decay = WeightDecay(weight_decay, weight_decouple=True)
        super().__init__(params, dict(lr=lr, beta2_decay=beta2_decay, eps=eps, d=d, weight_decay=weight_decay,
                                      maximize=maximize,
                                      **self.implementation_options(foreach, differentiable=False, capturable=False)))

    def check_hyperparameters(self, defaults: Dict[str, Any]):
        """
        A pair of epsilons, where the other classes have one.
        """
        eps = defaults['eps']
        self.check('eps', eps, isinstance(eps, (tuple, list)) and len(eps) == 2, 'a pair (eps1, eps2)')
        super().check_hyperparameters({key: value for key, value in defaults.items() if key != 'eps'})
        self.check('eps1', eps[0], eps[0] is None or eps[0] >= 0, 'None or >= 0')
        self.check('eps2', eps[1], eps[1] >= 0, '>= 0')
        self.check('beta2_decay', defaults['beta2_decay'], defaults['beta2_decay'] <= 0, '<= 0')
        self.check('d', defaults['d'], defaults['d'] >= 1, '>= 1')

    def reach(self, group: Dict[str, Any]) -> str:
        """
        Means over rows and columns: `'matrix'`, so never [the fast path](fast.html).
        """
        return 'matrix'

    def init_state(self, state: Dict[str, Any], group: Dict[str, Any], param: nn.Parameter):
        r"""
        ### Initialize the state of a parameter

        * `step` is $t$
        * for a matrix (or a stack of them), `row_var` is $R_t$, one number per row (its last
          dimension has length 1), and `col_var` is $C_t$, one number per column; for a vector or
          a scalar, `variance` is $\hat{V}_t$ in full
        """
        state['step'] = 0
        if param.dim() > 1:
            state['row_var'] = param.new_zeros(param.shape[:-1] + (1,))
            state['col_var'] = param.new_zeros(param.shape[:-2] + (1, param.shape[-1]))
        else:
            state['variance'] = torch.zeros_like(param, memory_format=torch.preserve_format)

    def step_numbers(self, state: Dict[str, Any], group: Dict[str, Any]) -> Numbers:
        r"""
        ### The numbers of step $t$
        """
        state['step'] += 1
        step = int(state['step'])
        # $1 - \hat{\beta}_{2,t} = t^{\nu}$
        one_minus_beta2 = step ** group['beta2_decay']
        # $\rho_t = \min(\alpha, 1 / \sqrt{t})$
        rho = min(group['lr'], 1 / step ** 0.5)
        eps1, eps2 = group['eps']
        return Numbers(self.weight_decay.numbers(group), eps1=eps1, eps2=eps2, d=group['d'],
                       one_minus_beta2=one_minus_beta2, rho=rho)

    def step_param(self, state: Dict[str, Any], numbers: Numbers, grad: torch.Tensor, param: nn.Parameter):
        r"""
        ### Update one parameter

        * `grad` is $g_t$, the gradient of the loss with respect to `param`

        A matrix is read in [bands](#bands) of rows, three times: for the means of $g_t^2$, for
        $\operatorname{RMS}(U_t)$, and for the step, which builds $U_t$ again rather than keep a
        full-size copy. The root mean squares are Python numbers, read from the tensors, as in
        torch: this update never runs as a compiled loop.

        <a id="factored"></a>

        **Factored passes.** Where no entry of $\hat{V}_t^{-1/2}$ reaches the cap
        $\frac{1}{\epsilon_1}$ (it does only where a whole row or column has gradients of zero, or
        of a size near $\epsilon_1$), $U_{t,ij} = r_i c_j g_{t,ij}$, and its squared norm is a sum
        over rows of matrix-vector products,

        $$\lVert U_t \rVert^2 = \sum_i r_i^2 \sum_j (g_t^2)_{ij} \, c_j^2$$

        so pass 2 needs only $g_t^2$, which a matrix of one band still has from pass 1: it reads
        nothing from memory. And pass 3 writes $r_i c_j$ into the temporary, which reads nothing
        from memory either, and multiplies it by $g_t$ as it adds to $\theta$: two operations, where
        building $U_t$ and adding it took four.
        """
        eps1 = torch.finfo(param.dtype).eps if numbers.eps1 is None else numbers.eps1
        # $\frac{1}{\epsilon_1}$, the cap on $\hat{V}_t^{-1/2}$
        cap = 1 / eps1 if eps1 > 0 else math.inf
        # $\alpha_t = \max(\epsilon_2, \operatorname{RMS}(\theta_{t-1})) \rho_t$, before the decay, with
        # $\lVert \theta_{t-1} \rVert^2$ as a dot product (see [the sum of squares](#dot))
        flat = param.detach().reshape(-1)
        alpha_t = max(numbers.eps2, math.sqrt(torch.dot(flat, flat).item() / param.numel())) * numbers.rho
        # $\theta_{t-1} \leftarrow \theta_{t-1} (1 - \alpha \lambda)$
        grad = self.weight_decay(param, grad, numbers)
        if grad.dim() > 1:
            row_var, col_var = state['row_var'], state['col_var']
            bands = self.bands(grad)
            scratch = torch.empty_like(grad[bands[0]], memory_format=torch.contiguous_format)
            col_sum = torch.zeros_like(col_var)
            for band in bands:
                square = squared(grad, band, scratch)
                # $R_t \leftarrow \hat{\beta}_{2,t} R_{t-1} + (1 - \hat{\beta}_{2,t}) \operatorname{mean}_j
                # (g_t^2)_{ij}$, a band of its rows
                row_var[band].lerp_(square.mean(dim=-1, keepdim=True), numbers.one_minus_beta2)
                col_sum += square.sum(dim=-2, keepdim=True)
            # $C_t \leftarrow \hat{\beta}_{2,t} C_{t-1} + (1 - \hat{\beta}_{2,t}) \operatorname{mean}_i (g_t^2)_{ij}$
            col_var.lerp_(col_sum.div_(grad.size(-2)), numbers.one_minus_beta2)
            # $\hat{V}_t^{-1/2} = r_i c_j$ with $r = \Big( \frac{R_t}{\max(\operatorname{mean}_i R_t, \epsilon_1)} \Big)^{-1/2}$
            # and $c = C_t^{-1/2}$, a column times a row: roots of the $n + m$ numbers, not of the $n m$
            row_factor = (row_var / row_var.mean(dim=-2, keepdim=True).clamp(min=eps1)).rsqrt_()
            col_factor = col_var.rsqrt()
            # [Factored](#factored) when the largest $r_i c_j$, the largest $r_i$ times the largest
            # $c_j$, is below the cap
            factored = (row_factor.max() * col_factor.max()).item() < cap

            def inverse_root(band):
                return torch.mul(row_factor[band], col_factor, out=temporary(scratch, grad[band]))
        else:
            # $\hat{V}_t \leftarrow \hat{\beta}_{2,t} \hat{V}_{t-1} + (1 - \hat{\beta}_{2,t}) g_t^2$, kept in full
            variance = state['variance']
            scratch = torch.empty_like(grad, memory_format=torch.contiguous_format)
            variance.lerp_(torch.mul(grad, grad, out=scratch), numbers.one_minus_beta2)
            # One band, the whole vector
            bands = [(...,)]
            factored = False

            def inverse_root(band):
                return torch.rsqrt(variance, out=scratch)

        def update(band):
            # $U_t = \frac{g_t}{\max(\sqrt{\hat{V}_t}, \epsilon_1)}
            # = g_t \min \big( \hat{V}_t^{-1/2}, \frac{1}{\epsilon_1} \big)$, on a band of rows
            # (where $\hat{V}_t = 0$, $\hat{V}_t^{-1/2} = \infty$ and the floor holds)
            return inverse_root(band).clamp_(max=cap).mul_(grad[band])

        if factored:
            # $\lVert U_t \rVert = \big( \sum_i r_i^2 \sum_j (g_t^2)_{ij} c_j^2 \big)^{1/2}$, with $g_t^2$
            # squared again for each band unless the matrix is one band
            col_squares = col_factor.square().mT
            norm = math.sqrt(sum(torch.matmul(square if len(bands) == 1 else squared(grad, band, scratch), col_squares)
                                 .mul_(row_factor[band].square()).sum().item() for band in bands))
        else:
            # $\lVert U_t \rVert$ from the norms of its bands
            norm = math.hypot(*(update(band).norm(2).item() for band in bands))
        # $\max(1, \operatorname{RMS}(U_t) / d)$
        clip = max(1.0, norm / (grad.numel() ** 0.5 * numbers.d))
        # $\theta_t \leftarrow \theta_{t-1} - \frac{\alpha_t}{\max(1, \operatorname{RMS}(U_t) / d)} U_t$, a band at a time
        for band in bands:
            if factored:
                # $U_t = g_t \cdot r_i c_j$, multiplied as it is added
                param[band].addcmul_(grad[band], inverse_root(band), value=-alpha_t / clip)
            else:
                # $U_t$ built again, except in a tensor of one band, whose $U_t$ is still in the scratch
                param[band].add_(update(band) if len(bands) > 1 else temporary(scratch, grad[band]), alpha=-alpha_t / clip)

    @staticmethod
    def bands(grad: torch.Tensor) -> List[Tuple[Any, slice, slice]]:
        """
        <a id="bands"></a>

        The indices of bands of whole rows of the matrix (of every matrix of a stack), of at most
        `BAND` elements each (or one row, if a row is longer).
        """
        rows = max(1, BAND // grad[..., :1, :].numel())
        return [(..., slice(i, i + rows), slice(None)) for i in range(0, grad.size(-2), rows)]


def squared(grad: torch.Tensor, band: Tuple[Any, ...], scratch: torch.Tensor) -> torch.Tensor:
    """$g_t^2$ on a band of rows, in the band's temporary."""
    return torch.mul(grad[band], grad[band], out=temporary(scratch, grad[band]))


def temporary(scratch: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """The first elements of `scratch`, in the shape of `like`, as the temporary of one band."""
    return scratch.view(-1)[:like.numel()].view(like.shape)
