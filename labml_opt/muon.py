r"""
---
title: Muon optimizer
summary: An annotated PyTorch implementation of Muon, which replaces the momentum of each weight matrix by the nearest orthogonal matrix, computed by five steps of a Newton-Schulz iteration in bfloat16.
---

# Muon

Muon (*MomentUm Orthogonalized by Newton-Schulz*) was introduced by Keller Jordan, Yuchen Jin,
Vlado Boza, Jiacheng You, Franz Cesista, Laker Newhouse and Jeremy Bernstein in the blog post
[*Muon: An optimizer for hidden layers in neural networks*](https://kellerjordan.github.io/posts/muon/)
(2024). It set training-speed records in the NanoGPT and CIFAR-10 speedruns. In
[*Muon is Scalable for LLM Training*](https://arxiv.org/abs/2502.16982), Liu et al. (2025) found in
scaling-law experiments that it reaches AdamW's loss with about half the compute, and trained
Moonlight with it, a mixture-of-experts language model of 16 billion parameters (3 billion active)
on 5.7 trillion tokens. PyTorch added it as `torch.optim.Muon`.

Muon is for the **matrices** of the hidden layers: the weight $\theta \in \mathbb{R}^{n \times m}$
of a linear layer $y = \theta x$. Embeddings, the output layer, biases and gains are trained by
AdamW alongside it ([`MuonWithAuxAdam`](#MuonWithAuxAdam) below does both in one optimizer).

## The problem: the momentum of a matrix is nearly low rank

SGD with momentum and Adam treat a weight matrix as $n m$ unrelated numbers. Jordan et al.
observe that for transformers the momentum $b_t$ of a weight matrix has a very high condition
number: written as its singular value decomposition $b_t = U \Sigma V^\top$, a few singular
values are much larger than the rest. A step along $b_t$ then moves the layer almost only in
those few directions, and the rare directions, which may matter for learning, hardly move.

Muon keeps the singular vectors and throws the singular values away: it steps along

$$O_t = U V^\top$$

the (semi-)orthogonal matrix nearest to $b_t$, in which every direction that $b_t$ has gets a
step of the same size. There is a second way to see it (Bernstein and Newhouse): of all the
steps $\Delta\theta$ of spectral norm at most $\alpha$, the one that lowers the linearized loss
$\langle g, \Delta\theta \rangle$ the most is $-\alpha U V^\top$ for $g = U \Sigma V^\top$. Muon
is steepest descent under the spectral norm, the norm that bounds how much a layer can change
its outputs, applied to the momentum.

## Orthogonalizing without an SVD: Newton-Schulz

An SVD costs too much to run on every step. But $U V^\top$ is what an odd polynomial does to a
matrix when it is applied to its singular values: for $X = U \Sigma V^\top$,

\begin{align}
a X + b (X X^\top) X + c (X X^\top)^2 X &= U \varphi(\Sigma) V^\top \\
\varphi(\sigma) &= a \sigma + b \sigma^3 + c \sigma^5
\end{align}

so iterating $X \leftarrow \varphi(X)$ moves every singular value along the iterates of $\varphi$
and leaves $U$ and $V$ alone. Divide $b_t$ by its Frobenius norm first, so that every singular
value lies in $(0, 1]$, and choose $\varphi$ so that its iterates carry every value in $(0, 1]$
towards $1$. Newton-Schulz's classic cubic, $\varphi(\sigma) = \frac{3}{2} \sigma - \frac{1}{2} \sigma^3$,
converges to exactly $1$, but slowly for small $\sigma$, where its slope is $\frac{3}{2}$. Jordan's
quintic, $(a, b, c) = (3.4445, -4.7750, 2.0315)$, has the slope $a = 3.4445$ at zero instead, and
pays for it by not converging: after five iterations every $\sigma$ in $[0.002, 1]$ lands in
$[0.68, 1.20]$, not at $1$. In the blog's experiments that does not hurt at all.

![The quintic, and five iterations of it, measured on Muon's own step](figures/muon_newton_schulz.svg)

Both curves are measured on this class: `python -m labml_opt.figures` steps it on matrices with
chosen singular values and reads them back from the step. With the default `ns_dtype=torch.bfloat16`
the iterates scatter around the polynomial (the dots); `ns_dtype=None` computes in the
parameter's precision and follows it exactly. A singular value below about $0.001$ times the
Frobenius norm grows by at most $a^5 \approx 485$ in five iterations and stays small: the
directions that $b_t$ barely has are not boosted without limit. (In `bfloat16` they keep the
rounding error of the other directions instead, a few hundredths.)

## The update

With learning rate $\alpha$, momentum $\mu$, decoupled weight decay $\lambda$ and $k$ iterations,
one step for a matrix with $n$ rows and $m$ columns is

\begin{align}
b_t &\leftarrow \mu b_{t-1} + (1 - \mu) g_t \\
\tilde{b}_t &\leftarrow \mu b_t + (1 - \mu) g_t \qquad \text{(Nesterov; without it } \tilde{b}_t = b_t \text{)} \\
X_0 &\leftarrow \frac{\tilde{b}_t}{\max(\lVert \tilde{b}_t \rVert_F, \epsilon)}, \qquad
X_j \leftarrow a X_{j-1} + \big( b A_j + c A_j^2 \big) X_{j-1}, \quad A_j = X_{j-1} X_{j-1}^\top \\
O_t &\leftarrow X_k \\
\theta_t &\leftarrow \theta_{t-1} (1 - \alpha \lambda) - \alpha r \, O_t
\end{align}

$b_t$ is a moving *average* here, as in torch's and Jordan's code (`lerp_`), not the sum
$\mu b_{t-1} + g_t$ of [SGD](sgd.html); torch's docstring writes the sum, but its code computes the
average. Since $O_t$ does not depend on the size of $\tilde{b}_t$, the two differ only in how
the current gradient is weighted against the past ones.

$r$ rescales the step for the shape of the matrix (`adjust_lr_fn`). An orthogonal $n \times m$
matrix has $\min(n, m)$ singular values of $1$, so the root mean square of its entries is
$1 / \sqrt{\max(n, m)}$: the bigger the layer, the smaller each weight's step.

* `'original'` (the default, Jordan's): $r = \sqrt{\max(1, n / m)}$. The step's root mean square
  is then $1 / \sqrt{m}$: it scales with the layer's fan-in $m$, as weights initialized by
  $1 / \sqrt{m}$ do, so that one $\alpha$ serves layers of every width.
* `'match_rms_adamw'` (Liu et al. 2025): $r = 0.2 \sqrt{\max(n, m)}$. The step's root mean square
  is then $0.2$, about that of an AdamW step, so Muon can reuse AdamW's learning rate and weight
  decay, and share one schedule with the AdamW that trains the other parameters.

## Precision: why the tests allow what they allow

torch runs the Newton-Schulz iteration in `bfloat16`, as Jordan's code does on GPUs: it is about
three times faster than `float32` here too, and the iteration is self-correcting, since each step
only needs to move singular values towards the band around $1$. `bfloat16` has an 8-bit
significand, so each product rounds at about $2^{-9} \approx 0.002$ relative, and after five
iterations $O_t$ differs from the exact polynomial's by 1 to 1.5% in norm (the scatter in the figure).

That is not the tolerance of our tests. This class performs torch's operations in torch's order
(`addmm` with the same coefficients, the same transposes), so the rounding is identical: after 200
steps it matches `torch.optim.Muon` bit for bit in `float32` and `float64`, within the usual
$10^{-6}$ and $10^{-12}$. What that rounding *does* allow is the distance to an implementation that computes
the same polynomial in another order: Jordan's reference code, which forms $b A$ and $c A^2$
separately and adds $10^{-7}$ to the norm instead of taking a floor, ends about $10^{-2}$ away
from torch after 200 steps of the tests' problem, a distance set by `bfloat16`, not by a mistake.
To test the mathematics itself, `ns_dtype=None` runs the iteration in the parameter's dtype, and
in `float64` it matches $U \varphi^k(\Sigma) V^\top$, computed from an SVD, to $10^{-12}$.

## Memory and cost

**Memory.** One tensor of state, the momentum $b$: 4 bytes per `float32` parameter, half of
[Adam](adam.html)'s 8. During the step, the iteration holds a `bfloat16` copy of the update and
two Gram matrices of $\min(n, m)^2$ numbers, for one matrix at a time.

**Cost.** For $X$ of $r' \times c'$ with $r' = \min(n, m)$ rows, each iteration multiplies
$X X^\top$ ($2 r'^2 c'$ floating-point operations), $A A$ ($2 r'^3$) and $B X$ ($2 r'^2 c'$):
$k (4 r'^2 c' + 2 r'^3)$ in all, about $30 \min(n, m)$ per parameter for a square matrix and
$k = 5$. An element-wise optimizer does about ten. Measured on one core of this machine's CPU
(AMD EPYC, with `bfloat16` instructions), a step of a $1024 \times 1024$ matrix takes 610 ms, as
`torch.optim.Muon`'s does, against 0.9 ms for [AdamW](adamw.html)'s compiled step; 2 s with
`ns_dtype=None` in `float32`. Over a training step that is small all the same:
the forward and backward passes cost about $6 B$ operations per parameter for a batch of $B$
tokens, so the iteration adds about $5 \min(n, m) / B$ of the total, 1% for $\min(n, m) = 1024$
and half a million tokens per batch.

In `benchmarks/optimizer_step.py`'s model (16 matrices of 1024 rows), on both cores, a step of 10
million parameters took 0.56 s and one of 50 million 3.2 s; torch's took 0.69 s and 3.1 s. The
operations are the same, so the times are the same up to the noise of a shared machine (one run of
three steps each, `--sizes 10,50 --optimizers Adafactor,Muon --steps 3`).

**No compiled fast path.** The iteration needs the rows and columns of each matrix, which a
flat element-wise loop does not have, so Muon says that its update [reaches](optimizer.html#reach)
the whole matrix and always runs as written, at every size; the matrix products are one library
call each already, and dominate the step. For the same reason, under FSDP2 each matrix is
[gathered whole](distributed.html#whole-tensors) from its shards for the step.

<a id="tuning"></a>

## What to tune

* **$\alpha$** (`lr`): with `'original'`, Jordan uses $0.02$ (torch's default is $10^{-3}$); with
  `'match_rms_adamw'`, AdamW's learning rate.
* **$\lambda$** (`weight_decay`): torch's default is $0.1$, decoupled and scaled by $\alpha$ as in
  [AdamW](adamw.html), not by $\alpha r$. Liu et al. find decay essential at scale: without it the
  weights and the layers' outputs kept growing over a long run, past the range in which `bfloat16`
  is precise.
* **$\mu$** (`momentum`) $0.95$, `nesterov=True` and $k = 5$ (`ns_steps`) rarely need changing.
* Which parameters get Muon: hidden matrices only. A convolution's filters can be trained as the
  matrix of their flattened fan-in ($c_{out} \times c_{in} h w$), but torch's Muon, and so this
  class, refuses any parameter that is not 2-D; reshape it, or train it with AdamW.

## The reference implementation

The arguments, defaults, state (`momentum_buffer`) and errors are those of `torch.optim.Muon` in
torch 2.13, and `state_dict`s load from one into the other. The `ns_dtype` argument is ours: `None`
computes the iteration in the parameter's dtype. Two details differ from torch:

* For a `bfloat16` parameter without Nesterov momentum, torch divides the momentum buffer itself by
  its norm, in place, because `.bfloat16()` of a `bfloat16` tensor is not a copy; its momentum then
  forgets its own size on every step. This class divides a new tensor.
* It refuses a complex parameter at the first step, with torch's `RuntimeError`.

Jordan's own code differs from torch a little more: it adds $10^{-7}$ to the norm, orders the
products as described above, lets a parameter without a gradient take a step with a zero gradient
(its momentum decays), and flattens 4-D convolution filters.
"""

import inspect
import math
from typing import Any, Dict, Optional, Tuple

import torch
from torch import nn

from labml_opt.adamw import AdamW
from labml_opt.optimizer import OPTIMIZER_OPTIONS, GenericAdaptiveOptimizer, Numbers, Params, WeightDecay

# The quintic's coefficients $(a, b, c)$, from Jordan's post: the slope at zero, $a$, as large as it
# can be while five iterations still bring every $\sigma$ in $[0.002, 1]$ within about $0.3$ of $1$
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
# How `adjust_lr_fn` may be given
ADJUST_LR_FNS = (None, 'original', 'match_rms_adamw')


class Muon(GenericAdaptiveOptimizer):
    """
    <a id="Muon"></a>

    ## Muon optimizer
    """

    # Complex numbers as pairs of reals have no meaning for an update of whole matrices
    supports_complex = False

    def __init__(self, params: Params, lr: float = 1e-3, weight_decay: float = 0.1, momentum: float = 0.95,
                 nesterov: bool = True, ns_coefficients: Tuple[float, float, float] = NS_COEFFICIENTS,
                 eps: float = 1e-7, ns_steps: int = 5, adjust_lr_fn: Optional[str] = None,
                 ns_dtype: Optional[torch.dtype] = torch.bfloat16, *,
                 state_dtype: Optional[torch.dtype] = None, kahan_sum: bool = False, seed: int = 0):
        r"""
        * `params` is the list of parameters, or of param groups; every parameter must be 2-D
        * `lr` is the learning rate $\alpha$
        * `weight_decay` is the decoupled decay $\lambda$
        * `momentum` is $\mu$, and `nesterov` chooses $\tilde{b}_t$
        * `ns_coefficients` are $(a, b, c)$ and `ns_steps` is $k$
        * `eps` is $\epsilon$, the floor of the norm that $\tilde{b}_t$ is divided by
        * `adjust_lr_fn` chooses $r$: `None` or `'original'`, or `'match_rms_adamw'`
        * `ns_dtype` is the dtype of the iteration (ours: torch's is always `bfloat16`), or `None`
          for the parameter's
        * `state_dtype`, `kahan_sum` and `seed` keep the state in `torch.bfloat16`, or add to a
          `bfloat16` parameter with Kahan summation, as [low-precision state](low_precision.html) explains
        """
        self.weight_decay = WeightDecay(weight_decay, weight_decouple=True)
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay, momentum=momentum, nesterov=nesterov,
                                      ns_coefficients=ns_coefficients, eps=eps, ns_steps=ns_steps,
                                      adjust_lr_fn=adjust_lr_fn, ns_dtype=ns_dtype),
                         state_dtype=state_dtype, kahan_sum=kahan_sum, seed=seed)

    def check_hyperparameters(self, defaults: Dict[str, Any]):
        """
        torch checks `ns_steps` and `ns_coefficients` at the first step; here they fail at once.
        """
        super().check_hyperparameters(defaults)
        momentum, steps, coefficients = defaults['momentum'], defaults['ns_steps'], defaults['ns_coefficients']
        self.check('momentum', momentum, 0 <= momentum < 1, 'in [0, 1)')
        self.check('ns_steps', steps, isinstance(steps, int) and 0 <= steps < 100, 'an integer in [0, 100)')
        self.check('ns_coefficients', coefficients, isinstance(coefficients, (tuple, list)) and len(coefficients) == 3,
                   'three numbers (a, b, c)')
        self.check('adjust_lr_fn', defaults['adjust_lr_fn'], defaults['adjust_lr_fn'] in ADJUST_LR_FNS,
                   "None, 'original' or 'match_rms_adamw'")
        self.check('ns_dtype', defaults['ns_dtype'], defaults['ns_dtype'] is None or (
            isinstance(defaults['ns_dtype'], torch.dtype) and defaults['ns_dtype'].is_floating_point),
            'None or a floating-point dtype')

    def add_param_group(self, param_group: Dict[str, Any]):
        """
        Only matrices: the error is torch's, type and words.
        """
        super().add_param_group(param_group)
        for param in self.param_groups[-1]['params']:
            if param.ndim != 2:
                raise ValueError(f'{type(self).__name__} only supports 2D parameters whereas we found a parameter '
                                 f'with size: {param.size()}; train the others with AdamW '
                                 f'(in MuonWithAuxAdam, in a group with use_muon=False)')

    def reach(self, group: Dict[str, Any]) -> str:
        """
        Matrix products: `'matrix'`, so never [the fast path](fast.html).
        """
        return 'matrix'

    def init_state(self, state: Dict[str, Any], group: Dict[str, Any], param: nn.Parameter):
        """
        ### Initialize the state of a parameter

        `momentum_buffer` is $b_t$, the only state Muon keeps.
        """
        state['momentum_buffer'] = torch.zeros_like(param, memory_format=torch.preserve_format)

    def step_numbers(self, state: Dict[str, Any], group: Dict[str, Any]) -> Numbers:
        r"""
        ### The numbers of step $t$

        The group's settings, and the decay factor $1 - \alpha \lambda$. There is no step count:
        nothing in Muon depends on $t$.
        """
        return Numbers(self.weight_decay.numbers(group), lr=group['lr'], momentum=group['momentum'],
                       nesterov=group['nesterov'], ns_coefficients=group['ns_coefficients'],
                       ns_steps=group['ns_steps'], eps=group['eps'], adjust_lr_fn=group['adjust_lr_fn'],
                       ns_dtype=group['ns_dtype'])

    def step_param(self, state: Dict[str, Any], numbers: Numbers, grad: torch.Tensor, param: nn.Parameter):
        """
        ### Update one parameter

        * `grad` is $g_t$, the gradient of the loss with respect to `param`
        """
        b = state['momentum_buffer']
        # $\theta_{t-1} \leftarrow \theta_{t-1} (1 - \alpha \lambda)$
        grad = self.weight_decay(param, grad, numbers)
        # $b_t \leftarrow \mu b_{t-1} + (1 - \mu) g_t$
        b.lerp_(grad, 1 - numbers.momentum)
        # $\tilde{b}_t \leftarrow \mu b_t + (1 - \mu) g_t$, a new tensor: `param.grad` is the user's
        update = grad.lerp(b, numbers.momentum) if numbers.nesterov else b
        orthogonal = self.orthogonalize(update, numbers)
        # $\theta_t \leftarrow \theta_{t-1} - \alpha r O_t$. With `alpha=`, $O_t$ is multiplied in the
        # parameter's dtype; $\alpha r O_t$ computed first would be rounded to `bfloat16`.
        param.add_(orthogonal, alpha=-numbers.lr * self.lr_ratio(numbers.adjust_lr_fn, param.shape))

    def orthogonalize(self, update: torch.Tensor, numbers: Numbers) -> torch.Tensor:
        r"""
        ### Newton-Schulz: $O_t \approx U V^\top$

        `update` is $\tilde{b}_t$; the result is $X_k$, in `ns_dtype`.
        """
        a, b, c = numbers.ns_coefficients
        x = update.to(numbers.ns_dtype or update.dtype)
        # Work on the wide side, $X$ with $\min(n, m)$ rows, so that $A_j = X X^\top$ is the smaller
        # Gram matrix: $X^\top$ has the same singular values, and its vectors swapped.
        tall = update.size(0) > update.size(1)
        if tall:
            x = x.T
        # $X_0 = \tilde{b}_t / \max(\lVert \tilde{b}_t \rVert_F, \epsilon)$: every singular value in
        # $(0, 1]$, since the Frobenius norm is at least the largest. (A new tensor: `update` may be
        # the momentum buffer itself, and in `ns_dtype` the cast is no copy.)
        x = x / x.norm().clamp(min=numbers.eps)
        for _ in range(numbers.ns_steps):
            # $A_j = X_{j-1} X_{j-1}^\top$
            gram = x @ x.T
            # $b A_j + c A_j^2$, one `addmm`: $b \cdot A + c \cdot (A A)$
            polynomial = torch.addmm(gram, gram, gram, beta=b, alpha=c)
            # $X_j = a X_{j-1} + (b A_j + c A_j^2) X_{j-1}$
            x = torch.addmm(x, polynomial, x, beta=a)
        return x.T if tall else x

    @staticmethod
    def lr_ratio(adjust_lr_fn: Optional[str], shape: torch.Size) -> float:
        r"""
        ### The shape's factor $r$

        For a matrix of $n$ rows and $m$ columns.
        """
        n, m = shape[:2]
        if adjust_lr_fn == 'match_rms_adamw':
            # $r = 0.2 \sqrt{\max(n, m)}$
            return 0.2 * math.sqrt(max(n, m))
        # $r = \sqrt{\max(1, n / m)}$
        return math.sqrt(max(1, n / m))


class MuonWithAuxAdam(Muon, AdamW):
    r"""
    <a id="MuonWithAuxAdam"></a>

    ## Muon with AdamW for the other parameters

    Jordan's reference code (`MuonWithAuxAdam` in [KellerJordan/Muon](https://github.com/KellerJordan/Muon))
    trains a whole model with one optimizer: each param group says with `use_muon` whether
    [Muon](#Muon) or [AdamW](adamw.html) steps it, and takes that algorithm's defaults, which
    are the reference's:

    * `use_muon=True`: `lr` $0.02$, `momentum` $0.95$, `weight_decay` $0$, and Muon's other
      arguments at torch's defaults (`nesterov`, `ns_coefficients`, `eps`, `ns_steps`,
      `adjust_lr_fn`, and our `ns_dtype`);
    * `use_muon=False`: `lr` $3 \cdot 10^{-4}$, `betas` $(0.9, 0.95)$, `eps` $10^{-10}$,
      `weight_decay` $0$.

    ```python
    optimizer = MuonWithAuxAdam([
        dict(params=hidden_matrices, use_muon=True, lr=0.02, weight_decay=0.01),
        dict(params=embeddings + head + biases_and_gains, use_muon=False, lr=3e-4, weight_decay=0.01)])
    ```

    Each half is this package's own class, so it computes what `torch.optim.Muon` and
    `torch.optim.AdamW` compute, and the tests hold it to the two of them stepped side by side.
    A key that neither the group's algorithm nor the reference knows (`betas` in a Muon group,
    say) is refused rather than ignored. The AdamW groups are element-wise and take
    [the fast path](fast.html) when they are large, like any AdamW's.

    The reference differs from this class where its Muon differs from torch's
    (see [above](#Muon)), and in one more way: it gives a parameter without a gradient a zero
    gradient and steps it, where torch and this class leave it alone.
    """

    # The defaults of each kind of group: the reference code's, and for Muon's other keys, Muon's own
    MUON_DEFAULTS = dict({name: parameter.default for name, parameter in inspect.signature(Muon).parameters.items()
                          if name != 'params' and name not in OPTIMIZER_OPTIONS}, lr=0.02, momentum=0.95, weight_decay=0.)
    ADAM_DEFAULTS = dict(lr=3e-4, betas=(0.9, 0.95), eps=1e-10, weight_decay=0., amsgrad=False,
                         decoupled_weight_decay=True)
    # Keys every group may have besides its algorithm's: `fast` chooses the path, as in every class here
    COMMON_KEYS = {'params', 'use_muon', 'fast'}

    # Muon's momentum has no 8-bit form here, so neither has the whole: `bfloat16` state only
    quantized_state: Dict[str, str] = {}

    def __init__(self, param_groups: Params, *, state_dtype: Optional[torch.dtype] = None, kahan_sum: bool = False,
                 seed: int = 0):
        """
        * `param_groups` is a list of param groups, each with `use_muon`
        * `state_dtype`, `kahan_sum` and `seed` keep the state in `torch.bfloat16`, or add to a
          `bfloat16` parameter with Kahan summation, as [low-precision state](low_precision.html) explains

        There are no constructor defaults: each group takes those of its algorithm. The two
        algorithms' settings are AdamW's (`optimized_update`, in the [Adam](adam.html) sense) and
        decoupled decay, which both use. The classes in between are skipped: their constructors
        take one algorithm's arguments.
        """
        self.weight_decay = WeightDecay(0., weight_decouple=True)
        self.optimized_update = True
        GenericAdaptiveOptimizer.__init__(self, param_groups, {}, state_dtype=state_dtype, kahan_sum=kahan_sum,
                                          seed=seed)

    def add_param_group(self, param_group: Dict[str, Any]):
        """
        Fill the group with its algorithm's defaults, refuse keys that belong to neither, and check
        the values the way that algorithm does.
        """
        name = type(self).__name__
        if 'use_muon' not in param_group:
            raise ValueError(f'{name} needs param groups, each with use_muon=True (Muon) or False (AdamW); '
                             f'got a group with keys {sorted(param_group)}')
        use_muon = param_group['use_muon']
        self.check('use_muon', use_muon, isinstance(use_muon, bool), 'True or False')
        defaults = self.MUON_DEFAULTS if use_muon else self.ADAM_DEFAULTS
        unknown = set(param_group) - set(defaults) - self.COMMON_KEYS
        if unknown:
            raise ValueError(f'Invalid keys {sorted(unknown)} for a {"Muon" if use_muon else "AdamW"} group of '
                             f'{name}: must be among {sorted(set(defaults) | self.COMMON_KEYS)}')
        group = {**defaults, **param_group}
        settings = {key: value for key, value in group.items() if key not in self.COMMON_KEYS}
        if use_muon:
            Muon.check_hyperparameters(self, settings)
            Muon.add_param_group(self, group)
        else:
            GenericAdaptiveOptimizer.check_hyperparameters(self, settings)
            GenericAdaptiveOptimizer.add_param_group(self, group)

    def check_hyperparameters(self, defaults: Dict[str, Any]):
        """Each group is checked as it is added, by its own algorithm's rules."""

    def reach(self, group: Dict[str, Any]) -> str:
        """AdamW's groups are element-wise; Muon's reach the whole matrix."""
        return 'matrix' if group['use_muon'] else 'element'

    def init_state(self, state: Dict[str, Any], group: Dict[str, Any], param: nn.Parameter):
        """Muon's `momentum_buffer`, or AdamW's `step`, `exp_avg` and `exp_avg_sq`."""
        (Muon if group['use_muon'] else AdamW).init_state(self, state, group, param)

    def step_numbers(self, state: Dict[str, Any], group: Dict[str, Any]) -> Numbers:
        """The numbers of the group's algorithm, with `use_muon` among them to choose the tensor math."""
        numbers = (Muon if group['use_muon'] else AdamW).step_numbers(self, state, group)
        numbers.update(use_muon=group['use_muon'])
        return numbers

    def step_param(self, state: Dict[str, Any], numbers: Numbers, grad: torch.Tensor, param: nn.Parameter):
        (Muon if numbers.use_muon else AdamW).step_param(self, state, numbers, grad, param)
