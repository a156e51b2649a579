r"""
---
title: Annotated optimizers
summary: PyTorch optimizers written as literate code, with the math next to the lines that compute it.
---

# Annotated optimizers

Every optimizer here is a drop-in `torch.optim.Optimizer`: it takes param groups (L-BFGS, like torch's, one), saves and
loads a `state_dict`, works with `torch.optim.lr_scheduler`, closures and step hooks. Each lives
in its own module, and each module reads as a page: the update rule in $\LaTeX$ first, then the
code that computes it, one equation at a time.

All of them but L-BFGS fill in [the template optimizer](optimizer.html): an algorithm writes `init_state`,
`step_numbers` (the numbers of step $t$, such as bias corrections) and `step_param` (the tensor
math), and [Adam](adam.html) splits its `step_param` further into hooks (`get_mv`, `adam_update`)
so that its variants override one idea each. The same code runs as written for small groups and
[compiled into one loop](fast.html) for large ones.

## The optimizers

* The classics, told as a story in which each fixes the last one's weakness:
  [SGD with momentum](sgd.html), [Adagrad](adagrad.html), [Adadelta](adadelta.html),
  [RMSprop](rmsprop.html), and then [Adam](adam.html); and the rest of `torch.optim`'s:
  [Rprop](rprop.html), which steps by the sign of the gradient, [averaged SGD](asgd.html),
  [SparseAdam](sparse_adam.html), Adam's lazy update for the sparse gradients of embeddings,
  and [L-BFGS](lbfgs.html), the quasi-Newton method that models the curvature of the loss from
  its last steps, with the strong Wolfe line search.
* Adam's family: [AMSGrad](amsgrad.html), [AdamW](adamw.html), [RAdam](radam.html),
  [AdaBelief](ada_belief.html), [NAdam](nadam.html), [Adamax](adamax.html), and the second-order
  [Sophia](sophia.html).
* The modern optimizers: [Lion](lion.html), the sign of a momentum, found by program search;
  [AdEMAMix](ademamix.html), Adam with a second momentum that remembers ten thousand steps;
  [Schedule-Free SGD](schedule_free_sgd.html) and [Schedule-Free AdamW](schedule_free_adamw.html),
  which replace the learning-rate schedule with an average of the iterates;
  [Muon](muon.html), which steps each weight matrix along the orthogonal matrix nearest to its
  momentum, with [AdamW for the other parameters](muon.html#MuonWithAuxAdam);
  [Adafactor](adafactor.html), which keeps the second moment of an $n \times m$ matrix in $n + m$ numbers;
  [LAMB](lamb.html), Adam with a trust ratio that moves every layer by the same fraction of its
  weights, for batches of tens of thousands; [Prodigy](prodigy.html), Adam that estimates its own
  learning rate from a lower bound on the distance to the solution; and [SOAP](soap.html), Adam run
  in the eigenbasis of Shampoo's preconditioner.
* Learning-rate schedules built into Adam: [warm-up](adam_warmup.html),
  [warm-up with cosine decay](adam_warmup_cosine_decay.html) and [Noam](noam.html).
* Less memory per parameter: [low-precision state](low_precision.html), the moments of every
  optimizer that keeps averages of gradients in `bfloat16` with stochastic rounding
  (`state_dtype=torch.bfloat16`), those of Adam's family also in 8 bits, blockwise quantized with
  a dynamic code map (`state_dtype='8bit'`), and `bfloat16` parameters with Kahan summation
  (`kahan_sum=True`).
* Beyond one process: [SharedAdam](shared_adam.html) for Hogwild training,
  [DistributedDataParallel, ZeRO and FSDP2](distributed.html), and
  [gradient accumulation](accumulate.html).

## Notation

Every page uses the same symbols. The code names follow `torch.optim`'s arguments and state keys.

| symbol | meaning | in the code |
|---|---|---|
| $t$ | the step, counted from $1$ | `state['step']` |
| $\theta_{t-1}$, $\theta_t$ | a parameter before and after step $t$ (on every page, Sophia's too) | `param` |
| $g_t$ | the gradient of the loss at $\theta_{t-1}$ | `grad` |
| $\alpha$, $\alpha_t$ | the learning rate; $\alpha_t$ when a schedule sets it for step $t$ | `lr` |
| $m_t$ | the moving average of gradients (the first moment) | `exp_avg` |
| $v_t$ | the moving average of squared gradients (the second moment) | `exp_avg_sq`, RMSprop's `square_avg` |
| $\hat{m}_t$, $\hat{v}_t$ | the bias-corrected averages $\frac{m_t}{1 - \beta_1^t}$, $\frac{v_t}{1 - \beta_2^t}$ | |
| $\beta_1$ | the decay rate of $m_t$ | `betas[0]` |
| $\beta_2$ | the decay rate of $v_t$ and of every other average of squares | `betas[1]`, RMSprop's `alpha`, Adadelta's `rho` |
| $\mu$ | the momentum of a velocity $b_t$ that *sums* gradients (SGD, RMSprop) or, in Muon, averages them; NAdam's $\mu_t$ is its schedule of $\beta_1$, in Dozat's notation | `momentum` |
| $b_t$ | that velocity | `momentum_buffer` |
| $\lambda$ | the weight decay | `weight_decay` |
| $\epsilon$ | a small constant that keeps a division finite; where it goes is in the table below | `eps` |

Symbols that belong to one page: Adagrad's sum $G_t$ (`sum`) and rate decay $\delta$ (`lr_decay`);
Adadelta's $E[g^2]_t$ (`square_avg`) and $E[\Delta\theta^2]_t$ (`acc_delta`); AdaBelief's $s_t$
(`exp_avg_var`); Adamax's $u_t$ (`exp_inf`); RAdam's adaptive rate $\psi_t$ and the lengths
$\rho_t$, $\rho_\infty$; NAdam's $\kappa$ (`momentum_decay`); Sophia's curvature $h_t$ (`hessian`)
and its scale $\gamma$ (`rho`); SGD's dampening $\tau$; the warm-up length $w$; low precision's
random bits $u$, seed of a step $z$, Kahan compensation $c_t$ (`kahan_comp`), and a block's
scale $N_b$ (`exp_avg_absmax`), codes $T^Q$ and code map $q_j$ in 8 bits;
Muon's orthogonalized update $O_t$, the coefficients $(a, b, c)$ of its polynomial $\varphi$, its $k$ iterations (`ns_steps`)
and the shape factor $r$ of its step (`adjust_lr_fn`); Adafactor's row and column averages $R_t$ and
$C_t$ (`row_var`, `col_var`) and estimate $\hat{V}_t$ (`variance` for a vector), its decay exponent
$\nu$ (`beta2_decay`), relative step size $\rho_t$, its pair $\epsilon_1, \epsilon_2$ (`eps`) and
clipping threshold $d$; LAMB's step direction $\omega_t$ (the paper's $r_t$), its trust ratio $q_t$ and scaling function $\phi$;
Prodigy's estimate $d_t$ (`d`) of the distance $D$ from the start $\theta_0$ (`p0`) to the solution,
its sums $N_t$ (`d_numerator`) and $\sigma_t$ (`s`), and their decay rate $\beta_3$ (`beta3`);
SOAP's statistics $L$, $R$ (`GG`), their eigenbases $Q_L$, $Q_R$ (`Q`), the rotated gradient $G'$,
the statistics' decay rate $\beta_s$ (`shampoo_beta`) and the steps between refreshes $f$.

### Where each optimizer puts $\epsilon$

The first step of each, from zero state, for a gradient $g$ (with $\lambda = 0$). These are
closed forms that `tests/optimizers/test_index.py` checks the optimizers against, with $\epsilon$
as large as $g$, where putting it anywhere else gives another number.

| optimizer | $\epsilon$ | first step $\theta_0 - \theta_1$ |
|---|---|---|
| [SGD](sgd.html) | none | $\alpha g$ |
| [Adagrad](adagrad.html) | outside the root: $\sqrt{G_t} + \epsilon$ | $\alpha \frac{g}{\lvert g \rvert + \epsilon}$ |
| [Adadelta](adadelta.html) | inside both roots: $\sqrt{E[\Delta\theta^2]_{t-1} + \epsilon}$, $\sqrt{E[g^2]_t + \epsilon}$ | $\alpha \frac{\sqrt{\epsilon}}{\sqrt{(1 - \beta_2) g^2 + \epsilon}} g$ |
| [RMSprop](rmsprop.html) | outside the root, no bias correction: $\sqrt{v_t} + \epsilon$ | $\alpha \frac{g}{\sqrt{1 - \beta_2} \lvert g \rvert + \epsilon}$ |
| [Adam](adam.html), [AMSGrad](amsgrad.html), [AdamW](adamw.html) | after bias correction: $\sqrt{\hat{v}_t} + \epsilon$ | $\alpha \frac{g}{\lvert g \rvert + \epsilon}$ |
| [NAdam](nadam.html) | after bias correction: $\sqrt{\hat{v}_t} + \epsilon$ | $\alpha \Big(1 + \frac{\mu_2 (1 - \beta_1)}{1 - \mu_1 \mu_2}\Big) \frac{g}{\lvert g \rvert + \epsilon}$ |
| [RAdam](radam.html) | before bias correction: $\sqrt{v_t} + \epsilon$; none in its first five (SGD) steps | $\alpha g$ |
| [AdaBelief](ada_belief.html) | inside $s_t$, and after bias correction: $\sqrt{\hat{s}_t} + \epsilon$ | with `rectify=False`: $\alpha \frac{g}{\sqrt{\beta_1^2 g^2 + \epsilon / (1 - \beta_2)} + \epsilon}$ |
| [Adamax](adamax.html) | inside the maximum: $\max(\beta_2 u_{t-1}, \lvert g_t \rvert + \epsilon)$ | $\alpha \frac{g}{\lvert g \rvert + \epsilon}$ |
| [Sophia](sophia.html) | a floor: $\max \{ \gamma h_t, \epsilon \}$ | $\alpha \operatorname{clip} \Big( \frac{(1 - \beta_1) g}{\max \{ \gamma h_1, \epsilon \}}, 1 \Big)$ |

[Muon](muon.html) and [Adafactor](adafactor.html) take norms and means over whole matrices, and their
$\epsilon$s are floors under those: Muon's under the norm it divides the momentum by, Adafactor's
$\epsilon_1$ under the mean of $R_t$ and under $\sqrt{\hat{V}_t}$, and its $\epsilon_2$ under the size of the weights.

## Which one to use

[The benchmark](experiments/benchmark.html) gives every optimizer here that runs in a plain
training loop the same tuning budget (four learning rates, and two values of one more
hyper-parameter, chosen on a validation split), reruns the chosen setting on three paired
seeds, and reports a held-out test split, on two small workloads. What its numbers support:

* On a small character-level transformer, 240 steps: [SOAP](soap.html) (2.94 $\pm$ 0.05 test
  bits per character), [Schedule-Free AdamW](schedule_free_adamw.html) (3.01 $\pm$ 0.07) and
  [Muon](muon.html) (3.03 $\pm$ 0.02) are ahead of every other optimizer on every seed, and reach
  the target loss in 140 to 160 steps where the others take 200 or more; the seeds do not settle
  their order. SOAP keeps 36 bytes of state per parameter, Muon 4 to 5, Adam 8.
  [Lion](lion.html), [NAdam](nadam.html), [LAMB](lamb.html), [AdamW](adamw.html),
  [AdEMAMix](ademamix.html), [Adamax](adamax.html), [Adam](adam.html) and
  [Adafactor](adafactor.html) follow, within noise of each other (3.14 to 3.18).
* On the MNIST MLP, SOAP is lowest on every seed (0.167 $\pm$ 0.012 test loss, 95.4%), more
  than two standard deviations ahead; the next eleven (Adamax, Schedule-Free SGD and AdamW,
  Adagrad, momentum, Prodigy, AdEMAMix, AMSGrad, [Muon](muon.html), Adam, AdamW) follow in a
  close group, each within one standard deviation of the next: 0.20 to 0.23, 93.5% to 94.9%
  accuracy.
* Plain SGD and [ASGD](asgd.html) are last among the minibatch methods on the transformer and
  the least repeatable on the MLP; [Rprop](rprop.html), a full-batch method, is last on both;
  momentum, [Sophia](sophia.html), RAdam, Adadelta and AdaBelief trail the transformer by 0.2
  bits or more.

Every optimizer had the same tuning budget, and a grid whose best rate sat at its edge was
searched beyond it; the runs are short and the baselines use no schedule: [the
page](experiments/benchmark.html) says what that leaves open.

## How they compare at their defaults

Ten of them train the same MLP on real MNIST digits, from the same initial weights on the same
batches ([the experiment](experiments/compare.html)); rerun it with
`python -m labml_opt.experiments.compare`.

![Training loss of ten optimizers on MNIST digits](experiments/results/compare_loss.svg)

[[include: experiments/results/compare_table.md]]

## How fast they are

For a param group of about four million elements or more, the default `step()` runs each page's own
`step_param`, compiled into one fused loop ([the fast path](fast.html)), for every optimizer here. Measured against `torch.optim` and the memory-bandwidth floor in the same
run with `python benchmarks/optimizer_step.py`:

[[include: results/optimizer_step.md]]
"""

from labml_opt.optimizer import GenericAdaptiveOptimizer, Numbers, Params, WeightDecay, as_weight_decay
from labml_opt.adam import Adam
from labml_opt.amsgrad import AMSGrad
from labml_opt.adamw import AdamW
from labml_opt.radam import RAdam
from labml_opt.ada_belief import AdaBelief
from labml_opt.nadam import NAdam
from labml_opt.adamax import Adamax
from labml_opt.shared_adam import SharedAdam
from labml_opt.sgd import SGD
from labml_opt.adagrad import Adagrad
from labml_opt.adadelta import Adadelta
from labml_opt.rmsprop import RMSprop
from labml_opt.adam_warmup import AdamWarmup
from labml_opt.adam_warmup_cosine_decay import AdamWarmupCosineDecay
from labml_opt.noam import Noam
from labml_opt.sophia import Sophia
from labml_opt.rprop import Rprop
from labml_opt.asgd import ASGD
from labml_opt.sparse_adam import SparseAdam
from labml_opt.lbfgs import LBFGS
from labml_opt.lion import Lion
from labml_opt.ademamix import AdEMAMix
from labml_opt.schedule_free_sgd import ScheduleFreeSGD
from labml_opt.schedule_free_adamw import ScheduleFreeAdamW, ScheduleFreeAdamWPaper
from labml_opt.muon import Muon, MuonWithAuxAdam
from labml_opt.adafactor import Adafactor
from labml_opt.lamb import LAMB, LAMBPaper
from labml_opt.prodigy import Prodigy
from labml_opt.soap import SOAP

__all__ = ['GenericAdaptiveOptimizer', 'Numbers', 'Params', 'WeightDecay', 'as_weight_decay',
           'Adam', 'AMSGrad', 'AdamW', 'RAdam', 'AdaBelief', 'NAdam', 'Adamax', 'SharedAdam', 'SGD', 'Adagrad',
           'Adadelta', 'RMSprop', 'AdamWarmup', 'AdamWarmupCosineDecay', 'Noam', 'Sophia', 'Rprop', 'ASGD',
           'SparseAdam', 'LBFGS', 'Lion', 'AdEMAMix', 'ScheduleFreeSGD', 'ScheduleFreeAdamW', 'ScheduleFreeAdamWPaper',
           'Muon', 'MuonWithAuxAdam', 'Adafactor', 'LAMB', 'LAMBPaper', 'Prodigy', 'SOAP']
