r"""
---
title: Low-precision optimizer state
summary: Adam's moments in bfloat16 or in 8 bits, and parameters in bfloat16 without losing small updates - the number formats, the lost-update problem, stochastic rounding with random bits computed in the loop, Kahan summation, and blockwise quantization with a dynamic code map.
---

# Low-precision optimizer state

An Adam step on a CPU is limited by memory, not arithmetic (see [the fast path](fast.html)). In
`float32` it reads $\theta$, $g$, $m$, $v$ and writes $\theta$, $m$, $v$: 7 tensors of 4 bytes, 28
bytes per parameter. Storing $m$ and $v$ in `bfloat16` makes that

$$\underbrace{4 + 4}_{\theta} + \underbrace{4}_{g} + \underbrace{2 + 2}_{m} + \underbrace{2 + 2}_{v} = 20
  \text{ bytes per parameter}$$

a floor $\frac{20}{28} \approx 0.71$ times as low, and the optimizer state takes 4 bytes per
parameter instead of 8. The arithmetic still runs in `float32`: the loop reads a `bfloat16`
moment, widens it, updates it, and narrows it again as it writes. The narrowing is the whole
question, and this page is about doing it without spoiling the averages. In 8 bits
([below](#blockwise)) the state takes about 2 bytes per parameter and the floor is about 16 bytes,
0.57 times as low; there the narrowing is a quantization, with a scale for every 256 values.

## Three codes for a number

A `float32` is a sign bit, 8 bits of exponent $e$ and 23 bits of fraction $f$; it means
$\pm 2^{e - 127} (1 + f / 2^{23})$. Between two powers of two, $2^k$ and $2^{k+1}$, there are
$2^{23}$ evenly spaced values, so neighbours differ by a *unit in the last place*,
$\operatorname{ulp}(x) = 2^{k - 23}$: about $1.2 \times 10^{-7}$ of $x$.

A `bfloat16` is **the top half of a `float32`**: the same sign and 8-bit exponent, and only the
top 7 bits of the fraction. It covers the same range, from $10^{-38}$ to $3 \times 10^{38}$, so a
second moment of $10^{-20}$ does not underflow as it would in `float16`, but its ulp is
$2^{k-7}$: neighbours differ by $\frac{1}{128}$ to $\frac{1}{256}$ of the value. Converting a
`float32` to `bfloat16` drops the low 16 bits of its code, after rounding them.

An 8-bit code is 256 values and nothing else; it stores a number only together with a scale
that says what the codes mean, as 8-bit optimizers do for blocks of 256 values
([below](#blockwise)).

## The lost update

Round to nearest, the usual rounding, returns the closer of the two neighbours. Adam's second
moment changes by

$$v_t - v_{t-1} = (1 - \beta_2)(g_t^2 - v_{t-1})$$

each step, which with $\beta_2 = 0.999$ is a thousandth of the distance to $g_t^2$. Once that is
less than half an ulp of $v_{t-1}$, rounding to nearest returns $v_{t-1}$: the step is lost, and
the next step, from the same $v_{t-1}$, is lost too. With $g_t = 1$ every step, $v_t$ should rise
to $1 - \beta_2^t$. In `bfloat16` it stops at $\frac{1}{4}$, where the increment
$(1 - 0.999)(1 - \frac{1}{4}) = 0.00075$ is less than half of $\operatorname{ulp}(\frac{1}{4}) = 2^{-9}$,
and stays there for ever. Then $\sqrt{\hat{v}_t}$ is half of what it should be and every step of Adam twice
as large; had the gradient shrunk instead, $v_t$ would be stuck too high and the steps too small.

![Adam's v for a constant gradient, in float32 and in bfloat16 with two roundings](figures/low_precision_lost_update.svg)

Nothing is wrong with any one rounding: each is the closest `bfloat16`. The error is that they are
all in the same direction, step after step.

## Stochastic rounding

Round $x$, which lies between neighbours $a < x < b$, *up* to $b$ with probability
$\frac{x - a}{b - a}$ and down to $a$ otherwise. Then

$$\mathbb{E}[\operatorname{round}(x)] = a \Big(1 - \frac{x - a}{b - a}\Big) + b \, \frac{x - a}{b - a} = x$$

The rounding is unbiased: each rounding errs, but the errors average out instead of adding up. An
increment a tenth of an ulp long moves $v$ up a whole ulp one step in ten, and in expectation
$v_t$ follows the `float32` recurrence exactly; the figure above shows it doing so.

For `bfloat16` this takes two integer operations on the `float32` code. Read the code as an
integer $c$ and split it into its top 16 bits $B$, the `bfloat16` code below $x$, and its low 16
bits $r$, the fraction of the way from $a$ to $b$ in units of $2^{-16}$ of the gap. Add a random
$u$, uniform on $0, \dots, 2^{16} - 1$, and drop the low 16 bits. The sum carries into the top
half, giving $B + 1$, the code of $b$, exactly when $u \ge 2^{16} - r$, which has probability
$\frac{r}{2^{16}} = \frac{x - a}{b - a}$. The sign is a separate bit, so the same holds for
negative numbers, rounding away from zero with that probability; and at a power of two, $B + 1$
is still the next `bfloat16`, so nothing special happens there.

## Where the random bits come from

The obvious source, `torch.rand`, would write a full tensor of random numbers and read it back:
4 bytes per parameter or more, which costs more than the 8 that `bfloat16` saves. Instead the
bits are computed in the loop, from the element's index $i$ and a seed $z$, a number of the step:

$$w_i = (i \, G + z) \bmod 2^{32}$$

with $G = 2^{32} (1 - 1 / \varphi)$ from the golden ratio. The two halves of $w_i$ are the $u$ of
two tensors, $m$ and $v$. What unbiasedness needs is that, for each element, $u$ is uniform and
fresh at every step. $z$ provides exactly that: it is a hash of the optimizer's `seed`, the
parameter's position among the optimizer's parameters and the step $t$, computed once per
parameter and step in Python, so it is uniform on $0, \dots, 2^{32} - 1$, and $w_i$, which is $z$
shifted by a constant, is too; its top and bottom 16 bits are then two independent uniform
numbers. Within one step, $i \, G$ spreads the elements' words evenly over the range, the way the
golden ratio spreads points on a circle, rather than independently: neighbours never round in
lock-step. A run repeats exactly, after a resume too, since $z$ depends on nothing else.

The loop's cost is a multiplication and an addition per element, which the compiler fuses into the
update; nothing is stored. `tests/optimizers/test_low_precision.py` checks that the bits are
uniform over the elements of one step and over the steps of one element, and that the mean of
many stochastic roundings of a number is the number.

## How close is close

Unbiased is not exact. Each rounding errs by up to an ulp, and $v_t$ remembers the errors of
about the last $\frac{1}{1 - \beta_2}$ steps, so it wanders around the `float32` value. In the
figure's run, over 4096 coordinates each rounded with its own bits, the mean of $v_{3000}$ is
$0.9498$ against $1 - 0.999^{3000} = 0.9503$, and the coordinates spread about it by $1.5\%$
(standard deviation); $\sqrt{v_t}$, which divides the step, by half that.

## Kahan summation for `bfloat16` parameters

Parameters stored in `bfloat16` have the same problem as $v$, worse: with $\alpha = 10^{-4}$,
Adam's step of about $\alpha$ is lost on every weight of size $\frac{1}{32}$ or more, where half an
ulp is $2^{-13} \approx 1.2 \times 10^{-4}$. Kahan's
compensated summation keeps what the rounding dropped in a second `bfloat16` tensor $c$, and adds it
back on the next step. The weight is then the pair: $\theta + c$, about 16 significant bits where
$\theta$ alone has 8. The optimizer's step starts from that sum, in `float32`, and its result is
split into a rounded weight and the rest:

\begin{align}
\tilde{\theta}_{t-1} &= \theta_{t-1} + c_{t-1} \\
\tilde{\theta}_t &= \text{the optimizer's update of } \tilde{\theta}_{t-1} \text{, in float32} \\
\theta_t &\leftarrow \operatorname{round}(\tilde{\theta}_t) \\
c_t &\leftarrow \tilde{\theta}_t - \theta_t
\end{align}

For an update that adds $\Delta_t$, this is Kahan's sum, $\theta_t = \operatorname{round}(\theta_{t-1} +
(\Delta_t + c_{t-1}))$ and $c_t$ what that rounding dropped: small updates pile up in $c$ until
together they are large enough to move $\theta$, so $\theta_t + c_t$ follows the `float32` sum, up
to the rounding of $c_t$ itself, which is small beside $\theta$. Starting the step from
$\tilde{\theta}$, and not from $\theta$ with $c$ added to its update, matters to an update that
reads the weight: decoupled weight decay, LAMB's trust ratio, and Schedule-Free's step, which
moves the weight a fraction of the way toward $z$: after 5 steps of $10^{-3}$, stepped from
$\theta$ with $c$ added to its update, Schedule-Free AdamW ended 56% of the distance it moved away
from `float32`, and stepped from $\tilde{\theta}$, 0.4%. This costs 2 more bytes per parameter to store, and 4 to read and write, and it needs
no random bits.

<a id="bfloat16-parameters"></a>

A `bfloat16` parameter with `kahan_sum` or a `state_dtype` takes [the fast path](fast.html) like
a `float32` one: its step is computed in `float32` and rounded where it is written back
([`step_in_float32`](#step_in_float32)), which is what one loop does. One thing has to be said to
Inductor for that: [`kahan_round`](#kahan_round) rounds $\tilde{\theta}_t$ to `bfloat16` and
reads it back in `float32` to find what the rounding dropped, and Inductor, which removes such a
pair of conversions as doing nothing, must be told to keep it (`emulate_precision_casts`), or $c$
comes out as zero. Compiled so, the parameters of a run are those of the code as written to the
bit, but where a moment's rounding put a step on the other side of a rounding threshold, and
`tests/optimizers/test_low_precision.py` checks that for each kind of state. A `bfloat16`
parameter with neither option is stepped in `bfloat16`, rounded after each operation as
torch's for-loop rounds it, which no loop computes: it runs as written, with a `FastPathWarning`.

On 50M `bfloat16` parameters, beside torch's fused AdamW, which keeps its state in `bfloat16`
too and rounds $\theta$, $m$ and $v$ to nearest with no compensation, and optimi's AdamW with
Kahan summation (`python benchmarks/low_precision.py --parameters bfloat16`):

[[include: results/low_precision_bfloat16.md]]

Our step with Kahan summation and `bfloat16` state takes 44.8 ms, a fourteenth of the 612 ms it
takes as written (which is what ran at any size before it was compiled), and half of optimi's 91.4
ms, for the same bytes. Torch's fused step, which drops the small updates that Kahan's sum keeps,
takes 34.1 ms. None of them reaches its floor here: this machine (AVX2, without `avx512_bf16`)
converts between `float32` and `bfloat16` with several integer operations per register, and the
step with compensation and stochastic rounding converts five tensors. With `float32` state the
loop converts three, moves 8 bytes more per parameter, and takes 34.9 ms. The times move from run
to run on this shared machine: an earlier run of the same command took 50.6 ms for ours, 26.9 for
torch's and 80.2 for optimi's.

<a id="which"></a>

## Which optimizers

Every optimizer here that keeps averages, of gradients, of their squares or of the sizes of its
steps, takes `state_dtype=torch.bfloat16`, `kahan_sum` and `seed`: [Adam](adam.html) and its
family ([AdamW](adamw.html), [AMSGrad](amsgrad.html), [NAdam](nadam.html), [RAdam](radam.html),
[Adamax](adamax.html), [AdaBelief](ada_belief.html), [SharedAdam](shared_adam.html), whose
state is shared in `bfloat16` as in `float32`, the schedules [AdamWarmup](adam_warmup.html),
[AdamWarmupCosineDecay](adam_warmup_cosine_decay.html) and [Noam](noam.html),
[AdEMAMix](ademamix.html), [LAMB](lamb.html)), [Adagrad](adagrad.html), [Adadelta](adadelta.html),
[RMSprop](rmsprop.html), [Rprop](rprop.html), [Lion](lion.html), [Sophia](sophia.html),
[Prodigy](prodigy.html), [Schedule-Free AdamW](schedule_free_adamw.html), [Muon](muon.html) (with
its AdamW), [SOAP](soap.html) and [SGD](sgd.html) with momentum, whose momentum is made by its
first step, from the first gradient, and takes `bfloat16` then. It is one step for all of them:
[the template](optimizer.html) widens the state tensors of the parameter's shape, runs the
optimizer's own `step_param`, and narrows them again with stochastic rounding
([`step_in_float32`](#step_in_float32)), and [the fast path](fast.html) compiles that into one
loop, whichever optimizer it is.

Some state stays as it is:

* **Iterates**, points among the weights rather than averages: Schedule-Free's $z$ and Prodigy's
  first weights $x_0$. To round them is to round the weights. With $z$ in `bfloat16`, 20 steps of
  Schedule-Free AdamW (lr $10^{-2}$) ended up to 31% of their own length away from the `float32`
  run; with only $v_t$ in `bfloat16`, 0.1%. So [Schedule-Free SGD](schedule_free_sgd.html) and
  [ASGD](asgd.html), whose only state is iterates, take no `state_dtype`.
* **State updated outside `step_param`**: Sophia's Hessian estimate, which `update_hessian`
  updates, and Prodigy's $\sigma$, which its estimate's pass updates before the step. The
  template's rounding wraps `step_param` alone; in `bfloat16`, these would be rounded to nearest
  at every update, and lose the small ones.
* **State of another shape**: [Adafactor](adafactor.html)'s $n + m$ means of an $n \times m$ matrix,
  already small, which is why it takes no `state_dtype`, and SOAP's rotations.

The first two kinds a class names in `full_precision_state`, and they stay in the parameter's dtype,
or in `float32` for a `bfloat16` parameter whose step is computed in `float32` (with `kahan_sum`):
Schedule-Free's $z$ in `bfloat16` would be rounded as the weights are, without their compensation.

SparseAdam and L-BFGS keep other kinds of state, and take no `state_dtype` either.

Lion and SGD count no steps, and the random bits need a step number: the template counts theirs in
`rounding_step`, kept in the state, so that a run resumed from a `state_dict` draws the bits the
whole run would have drawn ([`rounding_step`](optimizer.html#rounding_step)).

In 8 bits, the optimizers of Adam's family name their state tensors and code maps
(`quantized_state`): AdaBelief's $s_t$ is never negative and takes the unsigned map, and
AdEMAMix's slow average takes the signed map, as $m_t$ does.

<a id="blockwise"></a>

## 8-bit state: blockwise quantization

`state_dtype='8bit'` keeps Adam's $m_t$ and $v_t$ in one byte per element, after Dettmers, Lewis,
Shleifer and Zettlemoyer, [*8-bit Optimizers via Block-wise Quantization*](https://arxiv.org/abs/2110.02861).
A tensor $T$ of state is cut, in its flat order, into blocks $T_b$ of 256 values (the last one
may be shorter). Each block is divided by its own scale, the largest magnitude in it,

$$N_b = \max_i |T_{b,i}|$$

so that its values lie in $[-1, 1]$, and each is stored as the position $j$ of the nearest value
$q_j$ in a table of 256, the *code map*:

$$T^Q_{b,i} = \arg\min_j \Big| q_j - \frac{T_{b,i}}{N_b} \Big|$$

Reading it back multiplies again:

$$T^D_{b,i} = q_{T^Q_{b,i}} \, N_b$$

The state of a tensor is then its codes, a `uint8` tensor of its shape under the moment's own key
(`exp_avg`), and its scales, one `float32` per block, under the key with `_absmax` added
(`exp_avg_absmax`). Blocks help in two ways. A gradient that is a thousand times larger than the
rest coarsens only the 255 values beside it, not the whole tensor. And since the map holds $\pm 1$,
the largest value of each block is stored exactly. Blocks never straddle two tensors: each
tensor is quantized on its own.

A step runs as the bfloat16 one does: [`step_in_float32`](#step_in_float32) dequantizes $m_{t-1}$
and $v_{t-1}$ into `float32`, runs the optimizer's `step_param`, exactly as on its page, and
quantizes the new $m_t$ and $v_t$. So step $t$ divides by the `float32` $v_t$; only what is
carried to step $t + 1$ is rounded. Which tensors are quantized, and with which map, each
optimizer says in `quantized_state`: [Adam](adam.html) and its variants name $m_t$ (signed) and
$v_t$ and $v^{\max}_t$ (unsigned), [Adamax](adamax.html) $m_t$ and $u_t$.

<a id="code-map"></a>

## The dynamic code map

A linear map, $q_j = \frac{j - 127}{127}$, would store every value smaller than $\frac{1}{254}$ of
its block's largest as zero. That is fatal for $v_t$, a mean of squares: two coordinates whose
gradients differ by a factor of 30 have second moments that differ by 900, and a $v_t$ stored as
zero makes the next step divide by $\sqrt{v_t} + \epsilon \approx \epsilon$. The map must be
fine near zero and may be coarser near one, like a floating-point format, but with only 8 bits.

The paper's *dynamic* map (from Dettmers' dynamic tree quantization, 2016) reads a code as

* a sign bit (for $m_t$; none for $v_t$, which is never negative),
* then $E$ zeros, which make the exponent: the value lies in the decade $(10^{-E-1}, 10^{-E}]$,
* then a one, which ends the exponent,
* then $F$ fraction bits $k$, all that is left: a linear position inside the decade,

$$q = \pm 10^{-E} \Big(0.1 + 0.9 \, \frac{k + 1}{2^F}\Big)$$

so large values get many fraction bits and small ones few. For $v_t$ the paper spends the sign
bit on one more fraction bit in every decade. The code of all zeros is zero. With seven bits
after the sign, $E$ runs from 0 to 6:

| decade | $E$ | codes ($m_t$, per sign) | codes ($v_t$) | gap between codes, $m_t$ | gap, $v_t$ |
|---|---|---|---|---|---|
| $(0.1, 1]$ | 0 | 64 | 128 | $0.014$ | $0.0070$ |
| $(0.01, 0.1]$ | 1 | 32 | 64 | $0.0028$ | $0.0014$ |
| $(10^{-3}, 10^{-2}]$ | 2 | 16 | 32 | $5.6 \times 10^{-4}$ | $2.8 \times 10^{-4}$ |
| $(10^{-4}, 10^{-3}]$ | 3 | 8 | 16 | $1.1 \times 10^{-4}$ | $5.6 \times 10^{-5}$ |
| $(10^{-5}, 10^{-4}]$ | 4 | 4 | 8 | $2.3 \times 10^{-5}$ | $1.1 \times 10^{-5}$ |
| $(10^{-6}, 10^{-5}]$ | 5 | 2 | 4 | $4.5 \times 10^{-6}$ | $2.3 \times 10^{-6}$ |
| $(10^{-7}, 10^{-6}]$ | 6 | 1 | 2 | | $4.5 \times 10^{-7}$ |
| $10^{-7}$ | 7 | | 1 | | |
| zero | | 2 | 1 | | |

That is $2 \times 127 + 2 = 256$ codes for $m_t$, where the sign bit followed by seven zeros is
a second zero, and $255 + 1 = 256$ for $v_t$, where the code $00000001$ continues the rule one
decade lower, to $10^{-7}$. Within its decade a value is stored to within half a gap: relative
to the value, between $0.35\%$ and $3.5\%$ in the top decade of $v_t$, twice that for $m_t$, and
coarser further down, which is the point: seven decades in 8 bits.

Two choices here are ours. Each code sits at the *top* of its slice of the decade, $k + 1$, so
that $1$ and every $10^{-E}$ are codes and nothing needs adding; bitsandbytes and torchao put
each code in the middle of its slice, $k + \frac{1}{2}$, and add $1$ as a code of its own. And the
code stored is the position $j$ of the value in the sorted map, so that codes compare as their
values do. For $v_t$ the position is the bit pattern itself, read as an integer: more leading
zeros mean a smaller number and a smaller value. For $m_t$ it is $128$ plus the pattern of the
magnitude for a positive value, and $127$ minus it for a negative one.

<a id="decoding"></a>

### Decoding by arithmetic

The loop reads a code for every element and every moment, and a table of 256 values is a read
that the compiler cannot keep in vector registers: Inductor compiles it into a loop over the 16
lanes of a vector, each a load from memory at a 64-bit position. The value of a code can be
computed instead, from its bits. For a pattern $c > 0$ of `bits` bits (8 for $v_t$, 7 for the
magnitude of $m_t$), the leading one is at position $F$, so $c = 2^F + k$, and
$E = \text{bits} - 1 - F$ zeros come before it. Put the decade's $10^{-E}$ and the fraction over
one denominator:

$$q = 10^{-E}\Big(\frac{1}{10} + \frac{9}{10} \cdot \frac{k + 1}{2^F}\Big)
    = \frac{2^F + 9 (k + 1)}{10^{E + 1} \, 2^F}
    = \frac{9 (c + 1) - 8 \cdot 2^F}{2^{\text{bits}} \, 5^{\text{bits} - F}}$$

since $10^{E+1} 2^F = 2^{E + 1 + F} 5^{E + 1}$ and $E + 1 + F = \text{bits}$. The numerator is an
integer below $2^{11}$ and the denominator one below $2^{24}$ ($2^8 \cdot 5^8$ at most), so both
are exact in `float32`, and their quotient is rounded once: it is the `float32` nearest to $q$,
the value the map holds.

$2^F$ and $F$ need no search either. The integer $c < 2^8$ is exact as a `float32`, which is
$2^F (1 + f / 2^{23})$ with $2^F$ the power of two of its leading one: clearing its 23 fraction
bits leaves $2^F$ itself (and $0$ for $c = 0$), and the 8 bits above them, its exponent field,
are $F + 127$. [`magnitude_of`](#magnitude_of) computes that with two bitwise operations, then
a product of powers of five ([`denominator_of`](#denominator_of)) and one division, all of which
Inductor vectorizes; it took seven
comparisons and additions for $F$ before, and an 8-bit step on 262,144 elements from the cache
up to a sixth more time (see [what it costs](#benchmark)). `tests/optimizers/test_low_precision.py`
checks every code, to the last bit, against the paper's formula evaluated in Python's `float64`.

<a id="nearest-code"></a>

### Finding the nearest code

Write the magnitudes of a map in order, $p_0 = 0 < p_1 < \dots$ (all of $v_t$'s map, the upper
half of $m_t$'s), and the midpoints between neighbours

$$\mu_j = \frac{p_j + p_{j+1}}{2}$$

exactly, as the `float32` values $p_j$ give them. The nearest magnitude to $|x|$ is $p_j$ for the
$j$ with $\mu_{j-1} < |x| \le \mu_j$, the number of midpoints below $|x|$. A binary search of the
midpoints (`torch.bucketize`) finds it in eight dependent comparisons, a loop of its own that no
compiler fuses into the update. A table indexed by the top 16 bits of $|x|$, with the number of
midpoints below each range of 65,536 `float32` values and the one midpoint that may lie inside it,
finds it in one read (it did, before); but the compiled loop reads a table one lane at a time,
16 loads for a vector of 16 values, and that read took about 40% of an 8-bit step.

The code needs no table: inside a decade the codes are evenly spaced, so where $|x|$ lies among
them is the decoding formula [above](#decoding) run backwards. In the decade $E$, the values
$(10^{-E-1}, 10^{-E}]$, a code $c = 2^F + k$ has the value $\frac{9 (c + 1) - 8 \cdot 2^F}{D_E}$
with $D_E = 2^{\text{bits}} \, 5^{E+1}$, a line through the decade's codes. Solved for the
position, a value $y$ lies at

$$c(y) = \frac{D_E \, y + 8 \cdot 2^F}{9} - 1$$

which is an integer exactly at the codes. The same line holds at $c = 2^F - 1$, the last code of
the decade below, whose value $10^{-E-1}$ is the decade's lower end: so $|x|$ lies between the
codes $j = \lfloor c(|x|) \rfloor$ and $j + 1$, and the nearest code is

$$j + \big[\, |x| > \mu_j \,\big]$$

What that takes:

* **The decade.** $|x|$ is in decade $E$ when $E$ of the powers $10^{-1}, 10^{-2}, \dots$ are at
  or above it: seven comparisons (six for $m_t$'s map) with the map's own `float32` values of
  those powers, each of which selects the next decade's $D_E$ and $8 \cdot 2^F$. Below the
  smallest, $10^{-\text{bits}+1}$, there are only the codes $0$ and $1$, and the line through
  them has $D = 9 \cdot 10^{\text{bits}-1}$ and $9$ in place of $8 \cdot 2^F$.
* **$j$, in `float32`.** $c(|x|)$ is computed with an error far below one position, so its
  floor is the exact $j$ or one beside it, and only where $|x|$ is within that error of a code,
  far from either midpoint: $j$ one too low then, $|x|$ is just above $p_{j+1}$, and above
  $\mu_j$; one too high, $|x|$ is just below $p_j$, and below $\mu_j$. Either way the comparison
  below gives the code that $|x|$ is at.
* **$p_j$ and $p_{j+1}$, computed.** Their numerators on the decade's line are
  $N = 9 (j + 1) - 8 \cdot 2^F$ and $N + 9$: the same ratios of integers that
  [`magnitude_of`](#magnitude_of) divides, since $p_{2^F - 1} = \frac{2^F}{D_E}$ is the ratio
  it divides for that code with both terms multiplied by 5. Two divisions, rounded once each,
  give the map's `float32` values to the bit. At the ends of the decade one of the two lies
  outside it, and the line gives that one a wrong value, but only where the comparison does
  not depend on it: $j + 1 = 2^{F+1}$ only when $|x| \le 10^{-E} = p_j$, below any $\mu_j$
  whatever $p_{j+1} > p_j$; and $j = 2^F - 2$ only when $|x| > 10^{-E-1} = p_{j+1}$, above
  any $\mu_j$ whatever $p_j < p_{j+1}$. The same holds past the ends of the map:
  $j = 2^{\text{bits}} - 1$, the last code, only at $|x| = 1$, and $j = -1$ only for $|x|$ near $0 = p_{j+1}$ (and above
  the $p_j$ that the line gives, which is negative), so $j$ needs no clamping.
* **The comparison, exact.** $|x| > \mu_j$ is $2|x| > p_j + p_{j+1}$. The sum of two `float32`
  values may need one bit more than `float32` has (it did for about 70 of the midpoints of each
  map), so it is kept as two: its rounding $t$, and the error $e$ of that rounding,
  $p_j + p_{j+1} - t$, which Knuth's two-sum finds exactly in four subtractions and an
  addition. Then $2|x| > p_j + p_{j+1}$ exactly when $2|x| - t > e$: where $2|x|$ and $t$ are
  within a factor of 2 of each other, $2|x| - t$ is exact (Sterbenz's lemma), and elsewhere it is
  far larger than $e$, which is at most half a unit in the last place of $t$.

About fifty vector operations and two divisions, none of them a load. The signed map mirrors
the unsigned one: its position is $128 + j + \big[\, |x| > \mu_j \,\big]$ for $x > 0$ and
$127 - j - \big[\, |x| \ge \mu_j \,\big]$ for $x \le 0$, where a value exactly on a midpoint takes
the larger magnitude, as a search would give it the lower position. [`NearestCode`](#NearestCode)
computes it; `tests/optimizers/test_low_precision.py` checks that it finds the code that a
brute-force search finds (the distance to every code of the map, exact in `float64`), on every
`float32` within 3 units in the last place of each midpoint and of each code, on both sides of
each decade's ends, and on random values over nine decades. Once, as an experiment, it was
checked against the table on every `float32` from $-1$ to $1$, with no difference.

Computed before, with $j$ and the comparison in `float64`, it took twice as long as the table
read. In `float32`, with the decade chosen by comparisons, an 8-bit step takes 0.93 of the time it
took with the table, and 0.75 once the loop makes its choices [in mask
registers](fast.html#masks_in_registers) (see [what it costs](#codes-computed)).

Rounding to nearest is what the paper does, and it has the lost update of `bfloat16`, worse. $v_t$
changes by $(1 - \beta_2)(g_t^2 - v_{t-1})$, a thousandth of the distance, and a change of less than
half a gap is lost. Half a gap is at least $0.35\%$ of the value, so at a fixed scale a fall of
$v_t$, at most $0.1\%$ of it, is always lost, and a rise in the top decade is lost unless
$g_t^2 - v_{t-1} > 3.5 N_b$. A moment still moves, because its scale does: $N_b$ is stored exactly, so the largest value of a block follows the
`float32` recurrence, and a value that keeps its code keeps its ratio to that largest value. The
[check against torchao](#torchao) below measures what that costs.

<a id="threshold"></a>

### Small tensors stay `float32`

A tensor of fewer than `MIN_QUANTIZED_NUMEL` $= 4096$ elements keeps its state in `float32`, as
bitsandbytes (its `min_8bit_size`) and torchao do. What such a tensor would save is at most
$6 \times 4095$ bytes, about 24 KB: nothing beside a model's matrices, whose state is the memory
that matters. Those small tensors are biases and the gains of normalization layers, one number
per channel, which every input passes through; keeping them exact costs nothing measurable.
(torchao also keeps `float32` for any tensor whose size is not a multiple of 256; here the last
block is just shorter.)

<a id="torchao"></a>

### Checked against torchao

`quantization_errors` in [the figures](figures.html) steps one parameter of $128 \times 256$ with
an 8-bit AdamW and with `torch.optim.AdamW` in `float32`, on the same 200 gradients, which do not
depend on the parameter: in exact arithmetic the moments would be equal. Each coordinate has a
gradient of its own mean and noise, with scales spread over two orders of magnitude within every
block. The relative errors, $\frac{\lVert \tilde{m}_t - m_t \rVert}{\lVert m_t \rVert}$ and the
same for $v_t$, and of the parameter's path, $\frac{\lVert \tilde{\theta}_t - \theta_t \rVert}{\lVert \theta_t - \theta_0 \rVert}$:

[[include: results/quantization_error.md]]

The two implementations agree: the same method, and errors within a tenth of each other. What
difference there is comes from the code maps alone. Put torchao's maps in place of ours (an
experiment, not in the code) and our optimizer gives torchao's numbers to the last digit shown:
$3.07\%$, $7.95\%$ and $7.17\%$ on the first sequence, as torchao does. Our signed map, with
its codes at the tops of the slices, stores $m_t$ about a tenth more accurately; torchao's
unsigned map, with its codes in their middles, keeps the path about $5\%$ closer. Swapping
one map at a time shows each effect on its own, and we have no explanation of the second.

The larger lesson is the size of both errors. $v_t$ is $8\%$ off after 200 steps, and the
parameter's path $7.7\%$, against $1.7\%$ and $0.5\%$ for `bfloat16` state with stochastic
rounding: the lost updates [above](#code-map), which rounding to nearest makes. These gradients
are a hard case, with scales that differ a hundredfold within each block, in the first 200 steps,
while $v_t$ is still rising. Stochastic rounding of the codes would remove the bias, as it does
for `bfloat16`; the paper does not use it, and neither do we.

<a id="training"></a>

### Training with 8-bit state

`python benchmarks/state_precision_training.py` trains the MNIST MLP and the character-level
transformer of [the benchmark](experiments/benchmark.html) with AdamW at its tuned learning
rate, on the benchmark's seeds 1, 2 and 3, with its state in `float32`, in `bfloat16` and in
8 bits, and in `bfloat16` rounded to nearest, the naive way that loses updates. (Of the MLP's
269,322 parameters, all but the 3,082 of its biases and its last layer, tensors under 4096
elements, have 8-bit state.) The test loss and accuracy, as mean $\pm$ standard deviation over
the seeds:

[[include: results/state_precision_training.md]]

On the MLP, 8 bits and `bfloat16` end within a tenth of a standard deviation of `float32`, and
each seed within $0.002$ nats of its `float32` run: the errors measured above do not show in the
result. On the transformer (240 steps) the four end within one standard deviation of each other,
$2.18$ to $2.21$ nats, and the spread over seeds ($0.03$ to $0.06$) is larger than any
difference between the formats; `bfloat16` with stochastic rounding is the highest by $0.016$,
half a standard deviation. Nor does the lost update show: rounded to nearest, `bfloat16` state
ends as close to `float32` as stochastic rounding does, on both workloads. These short runs,
with gradients that change from batch to batch, do not teach the lesson of [the lost
update](#the-lost-update); the constant gradient of the figure does. We have not found the
workload here on which naive rounding is measurably worse.

<a id="training-every-optimizer"></a>

**Every optimizer.** The same command with `--optimizers` trains any of [the
benchmark](experiments/benchmark.html)'s optimizers at the learning rate and setting the benchmark
tuned for it. On the MLP, every optimizer that takes `bfloat16` state:

[[include: results/state_precision_optimizers.md]]

Each ends within 0.3 of a standard deviation of its `float32` run, in either rounding, but Rprop,
whose tuned runs diverge in every state (9 to 13 nats): its `bfloat16` runs end 1.1 standard
deviations lower, among losses no better than a guess. On the transformer:

[[include: results/state_precision_optimizers_chars.md]]

Each ends within 0.6 of a standard deviation of its `float32` run (AdamW's `bfloat16` run is the
farthest, $+0.57$; the largest of the others is SOAP's, $-0.37$), and rounded to nearest within
0.45 (Adam, $+0.43$). Neither table shows the lost update, for the reason above: a few hundred
steps of gradients that change from batch to batch.

<a id="benchmark"></a>

## What it costs

The update itself is unchanged: every optimizer's `step_param` runs on `float32` copies of its
state, exactly as on its page, and [the fast path](fast.html) compiles the widening, the update,
the random bits and the rounding into one loop. The bytes are counted at the top of this page.
What the loop adds is arithmetic: two conversions and the rounding for each moment, and the
multiplication and addition that make the bits.

How that arithmetic is compiled decides the cost. `python benchmarks/bfloat16_loop.py` times
loops in CPU time on a million elements, which fit in the cache, so that loads, stores and
arithmetic show rather than memory bandwidth. A plain Adam loop, written for `torch.compile`,
with `bfloat16` moments updated in place, takes 1.37 ms against 0.37 ms with `float32` moments;
the same loop that only loads `bfloat16` moments takes 0.40 ms, one that only stores them 0.45
ms, and one that loads them from one tensor and stores them into another 0.46 ms. It is updating
them *in place* that costs. Inductor vectorizes a loop 32 elements wide only when every part of
it touches `bfloat16`, and the part that writes the new $\theta$ back into a `float32` parameter
does not; so the loop goes 16 wide, the width of `float32`, and each load and store of a moment
is a masked half-width operation on a 64-byte line that the next element's load shares. Our
reading is that a masked load cannot take its bytes from a masked store that has not yet reached
the cache, and waits for it. The plain loop without the parameter update, which Inductor does
vectorize 32 wide, takes 0.33 ms.

So [the fast path compiles loops over `bfloat16` state 32 wide](fast.html#bfloat16_vectors). At
that width more things cost as much as the update: Inductor reads the bits of a `float32` as an
integer one lane at a time, through memory, builds each vector of indices $i$ lane by lane, and
rounds to `bfloat16` with a dozen integer operations per register where this processor has one
instruction for it; the fast path has all three done in registers, in one instruction each where
it can. And the random bits are computed in `int32`, not in `int64`, whose vectors hold half as
many numbers. Our AdamW's step on a million elements then took 0.50 ms of CPU with `bfloat16`
state against 0.43 ms with `float32` state, where it took 1.48 against 0.46 before. (The
instruction that rounds reads a number below $1.2 \times 10^{-38}$ as zero, where the code as
written keeps it: the one place where the compiled loop and the page differ, in moments too
small to matter.)

Where did the rest go? Not to memory: on 131,072 elements, whose 1.5 MB fit in a core's cache, the
compiled loop alone (`python benchmarks/bfloat16_kernel.py`, one thread) took 57 µs of CPU against
43 to 47 µs for the `float32` loop, about as long per element as on a million. On this processor,
which runs each 512-bit vector instruction as two 256-bit halves, it was limited by its
instructions, about ninety for 32 elements. Taking pieces out of its C++ by hand (experiments,
timed on 65,536 elements) showed where they went, and the largest were not the page's arithmetic.
The numbers of the step, $\beta_1$, $\alpha$, $\epsilon$, $z$ and the others, were read, converted
from `float64` and broadcast again for every 32 elements (16% of the loop's time), since the C++
compiler could not tell that the loop's stores leave them alone; widening a `bfloat16` register to
two of `float32` took five instructions where two do (9%); and in the loop compiled for several
threads, the test that separates the vectors from the last, shorter one was recomputed for every
vector (13%). [The fast path](fast.html#bfloat16_vectors) now reads the numbers and that bound
once, before the loop, and widens with one instruction per register. The loop then takes 42 to 43
µs on those 131,072 elements, as long as the `float32` loop, and our AdamW's step on a million
elements 0.38 to 0.41 ms, against 0.50 before and 0.42 to 0.57 ms in `float32`
(`python benchmarks/bfloat16_loop.py`; both on a machine busy with other work), with the same bits
in the state and the parameter.

What is left is mostly the page's arithmetic. Without the division and the square root the
loop takes a quarter less time; they are the same in `float32`, and stay. The random bits and
the rounding are about 10%: the mask that clears the low 16 bits before the conversion could go
(taking the top 16 bits directly, 3.5%), and the top half of the word could be taken with a
logical shift instead of an arithmetic one and a mask (1.5%), but the compiler sees neither,
and we have not taught it.

In 8 bits the state is 2 bytes of codes per parameter and two `float32` scales per 256:

$$\underbrace{1 + 1}_{m,\, v} + \underbrace{\frac{4 + 4}{256}}_{N_b} = 2.03 \text{ bytes per parameter}$$

a quarter of `float32`'s 8 (3.05 with $v^{\max}_t$), and `tests/optimizers/test_low_precision.py`
counts them. A step reads and writes $\theta$ (8 bytes), reads $g$ (4), and reads and writes each
moment's code (4 in all) and scale: a floor of $16 + \frac{16}{256} \approx 16.06$ bytes per
parameter, $0.57$ of `float32`'s 28.

The fast path compiles this too. A block's codes can be written only once the maximum of its 256
new values is known, so the loop runs over rows of 256: the update is recorded on a parameter,
gradient and codes of $B$ rows of 256, with $B$ a symbol and 256 a constant, and on scales of
$B$ numbers ([stand-ins for blockwise state](fast.html#blocks)). Inductor compiles it into one
C++ function that dequantizes, runs the page's update, takes each moment's maximum in each row
and writes the codes, [one row at a time](fast.html#one_pass_per_row). A tensor whose size is
not a multiple of 256 ends in a shorter block: its whole blocks run in the loop, and the
[last one](fast.html#whole_blocks) as written.

Measured with `python benchmarks/low_precision.py`, beside torchao's 8-bit AdamW and optimi's
AdamW:

[[include: results/low_precision.md]]

The table was measured with the memory in its slower state (54.2 GB/s in place, see below), while
work that this machine does not show took memory bandwidth in bursts (in place, `a.mul_(s)`
measured 28 to 49 GB/s from one half second to the next just before). With `bfloat16` state our
AdamW's step takes 0.79 of torch's fused step in `float32` (20.2 ms against 25.4 ms), in half the
optimizer memory: 91% of its floor of 20 bytes, where the `float32` step reaches 100% of its 28
and torch's 101%. Three runs of the same command the session before gave 0.82, 0.67 and 0.72 (88%,
94% and 91% of the floor): from run to run the ratio to torch moves more with torch's time than
with ours.

The memory of this shared machine runs in two states: about 90 GB/s in place when nothing else
uses it, and 51 to 55 GB/s, often, when other work does, even work that `top` does not show. The
slower the memory, the more of the loop's arithmetic hides behind it. At full speed the loop is
not quite hidden. Timed in one process, the loop from before it read its numbers once, widened in
one instruction and prefetched (above and [in the fast path](fast.html#bfloat16_vectors)), and the
loop after, were alternated with torch's fused step on the same 50M parameters (median of 7 rounds
of 10 steps). With the memory at full speed (88 GB/s in place), torch's step took 18.8 ms, ours
with `bfloat16` state 16.1 ms before, 0.84 of it, and 14.3 ms after, 0.75 and 79% of its floor; in
another run 18.0, 16.4 and 14.0 ms, 0.88 and 0.76. With the memory slower both loops run at 85% to
102% of their floor, 0.72 to 0.79 of torch's step, and the new one is 1% to 9% faster.

The compiled loops alone, called on the same tensors with memory at about 97 GB/s, took 15.1 ms
before the changes and 13.2 to 13.5 ms with all but the prefetch; with it, 13.3 ms in one run
and 11.9 ms in another; and the same loads and stores with the division, the square root and the
random bits taken out (an experiment) 11.5 to 12.1 ms, against 10.3 ms for 20 bytes per
parameter. With the memory slower, the prefetch made the loop 2% to 5% faster in each of four
runs. What is left between 79% of the floor at full speed and 85% is mostly that arithmetic, the
page's own.

Or it is the memory after all, priced as this machine prices it. A pass here costs about as much
for each tensor it reads, and hardly anything for a tensor it writes back beside it ([measured on
the Adafactor page](adafactor.html#floor)). The floor above prices a byte written as much as a
byte read. Priced by what it reads instead, the `bfloat16` step reads 12 bytes per parameter
($\theta$, $g$ and the two moments) where the `float32` step reads 16; with torch's step at its
floor, as the table shows it, ours can take no less than $\frac{12}{16} = 0.75$ of it: the ratio
it measured at full speed, 0.75 and 0.76. By the same price the 8-bit step, which reads about 10
bytes, could reach 0.63 of it.

Our 8-bit step takes 82 ms in that table, 3.2 times torch's fused step: an eleventh of torchao's
924 ms, but far from its floor, 0.57 of `float32`'s bytes (18% of it). Before its codes were
computed and its choices made in mask registers ([below](#codes-computed)) it took 122 ms, 4.3
times torch's step (4.8 and 3.8 times in two other runs), and before the changes below that, 167
ms, 6.5 times (9.4 times at full memory speed, in one run before that).

Where the time went was first the passes over memory. Left to itself, Inductor compiled the step
into seven loops in its one C++ function: one over the whole tensor for each decoding, which
wrote the decoded $m_{t-1}$ and $v_{t-1}$ in `float32` into buffers of the tensor's size; one over
the rows for the largest new $v_t$; one for the update, which wrote the new $m_t$ into a third such
buffer; one that read it back for $m_t$'s codes; and two that copied the new scales. It does not
fuse the maximum of a block with the codes that need it. That is about 53 bytes per parameter
moved where the floor is 16, and three buffers of 4 bytes per parameter that the loop allocated
on every call and touched page by page: at 50M parameters, 600 MB of fresh pages a step.

Now the step is [one pass per row](fast.html#one_pass_per_row). For each row of 256, one loop
over its elements decodes $m_{t-1}$ and $v_{t-1}$, computes $m_t$ and $v_t$ into two buffers of
256 numbers and takes their largest magnitudes; a second computes $\theta_t$ and the codes from
those buffers, which stay in the cache. From memory it reads and writes what the floor counts, 16
bytes per parameter and the scales, and it allocates nothing. Two lines of the page's code are
written for it: the sign of $m_t$'s value is [a multiplication](#dynamic_map), not a choice
between the magnitude and its negative, and [whole blocks](#dequantize) are dequantized without
going through the flat tensor; either way, Inductor stored the decoded $m_{t-1}$ in a buffer of
the tensor's size, since it counted two uses of it.

`python benchmarks/eight_bit_loop.py --large`, as it was then (at commit `a3ac130`), timed the
step as it was, the page's code as it was then compiled by Inductor alone, and as it was compiled
in one pass per row, in one process, on 51.4M parameters
(wall time on two threads, median of 7 interleaved rounds of 5 steps, load average 0.8 to 1.3),
after checking that all three leave the same codes, scales and parameters, to the bit. The step
took 359 ms before, 263 ms with the page's code but Inductor left to itself, and 124
ms in one pass per row, against 33.7 ms for torch's fused AdamW in `float32`: 3.6 times it, where
it was 10.5 times. At the bandwidth of torch's step, the floor of 16.06 bytes per parameter would
take 19 ms: the loop reaches 16% of it.

What is left is arithmetic. On a tensor of 262,144 elements, which fits in the cache
(`python benchmarks/eight_bit_loop.py`: CPU time on one thread, median of 11 interleaved rounds
of 20 steps), the step took 1.70 ms before, 1.31 ms with the page's code but
Inductor left to itself, and 1.25 ms in one pass per row, which also reads [the numbers of the
step once](fast.html#numbers_read_once), before its loops; torch's fused AdamW took 0.169 ms, 7.4
times less. Of what the page's code saves, [the decoding by the exponent](#decoding) took 0.19 to
0.28 ms and [one table read](#nearest-code) for the nearest code instead of two 0.16 ms, measured
one after the other in runs of their own.
Measured before, each part compiled on its own on the same 262,144 elements: decoding by a table
read 0.47 ms, by the arithmetic of the comparisons 0.45 ms; the nearest code by the two table
reads 0.46 to 0.49 ms, by arithmetic in `float64` 0.94 to 1.10 ms, which is why the table
stayed then.
The two decodings and two nearest codes of an element added up to about as much as the whole
loop: the codes are nearly all of an 8-bit step. Without them (an experiment, not in the code:
old codes read as $\frac{j}{255}$, new ones a multiplication) the loop took 0.4 ms. At 50M on
two threads the step now takes about as long as its CPU time on one thread from the cache
predicts (1.25 ms for 262,144 elements, 122 ms for 51.4M on two): memory is no longer what it
waits for.

Two more changes to the table read were measured and left out, since neither helped. Inductor
reads a table with 16 loads, one per lane; AVX-512's gathers (`_mm512_i32gather_ps`
and `_epi32`, one instruction for the 16 lanes) made the step slower, 1.68 ms against 1.62 ms
(with the decoding by comparisons and two tables per map), on this processor, whose gathers are
no faster than the loads; with one 64-bit entry per bucket, two gathers of 8 lanes
(`_mm512_i64gather_epi64`) in place of the 16 loads took 1.23 ms against 1.25 ms, too little to
keep a change to the compiler for.
And reading the bits of a `float32` as an integer in registers, as [loops over
`bfloat16`](fast.html#bfloat16_vectors) do, where Inductor goes through memory lane by lane,
changed nothing measurable (1.331 against 1.336 ms).

<a id="codes-computed"></a>

Then the codes themselves. `python benchmarks/eight_bit_loop.py` now times the loop of commit
`a3ac130`, with its table, compiled and called as it was then, against the loop as it is, in one
process, after checking that both leave the same codes, scales and parameters, to the bit. On
262,144 elements (CPU time on one thread, median of 11 interleaved rounds of 20 steps, medians of
the paired ratios):

* [the nearest code computed](#nearest-code), without the table, took the step from 1.244 ms to
  1.166 ms, 0.93 of it (load average about 1);
* [the choices in mask registers](fast.html#masks_in_registers) took it further, to 0.973 ms
  against 1.311 ms for the loop with the table, 0.75 of it (with another process busy on the
  second core, load average 3). On the loop with the table alone they saved 13%, and on the
  computed one 20%, which makes twelve or fourteen choices per moment where the table read made
  none;
* [the denominator of a code](#denominator_of) from three choices and two products, where it
  took four and four, saved 2.2% and 2.5% more in two runs of their own;

all three together: 0.895 ms against 1.181 ms, 0.76 of the time with the table (load average 3.0
to 3.2, two processes of other work on the two cores), and 5.5 times torch's fused AdamW, where
the loop with the table took 7.2 times. At 50M (`--large`: wall time on two threads, median of 7
interleaved rounds of 5 steps, load average 3.0 to 3.2, our process raised above the others) the
step took 84.4 ms
against 114.2 ms with the table, 0.73 of it; torch's fused step took 17.4 ms, with the memory at
full speed: 4.9 times it, where the loop with the table took 6.6 times. In a second run, with the
memory slower (torch's step 26.0 ms, load average 1.9 to 2.2), 98.0 ms against 120.5 ms, 0.81
of it, and 3.8 times torch's step, where the loop with the table took 4.7 times. (The cache run
just after it: 0.936 ms against 1.251 ms, 0.76 again.)

Where the time goes now, in a profile of the loop on one thread from the cache (`perf`): the
instructions just after a division or the square root hold 28% of its samples, 19% after the
four divisions of the two nearest codes. There are nine divisions and a square root for every
16 elements: for each moment one to normalize it by its block's scale, one to decode its old
code and two for the new one, and one in the update. Each is rounded once, as the page's code
is, and none can be a multiplication by a reciprocal without changing bits (`torch.compile` on
a CPU writes no fused multiply-add, with which a remainder could correct it). They wait on each
other too: the new moment, its normalization, the decade, $j$ and its two codes form one chain
with three divisions in it for each vector. Our reading is that those chains set the pace more
than the number of divisions does: the three loops over a row take about 240 instructions for
16 elements, too many for the processor to run far ahead into the next 16 while one chain waits.
And Inductor stored about ten vectors for every 16 elements into the loop's buffers of one row
that nothing loads: values that it keeps because several parts of the step use them, which only
the loop that made them reads, from registers. [One pass per row](fast.html#one_pass_per_row)
now drops those stores: the step took 0.97 of its time without them (0.889 ms against 0.919 ms,
11 interleaved rounds).

With all four changes, in the last runs of `python benchmarks/eight_bit_loop.py` (load average
2.3 to 2.9): 0.887 ms against 1.189 ms with the table on 262,144 elements, 0.75 of it and 5.4
times torch's fused step; and at 50M (`--large`) 83.3 ms against 113.1 ms, 0.73 of it, where
torch's fused step took 25.4 ms: 3.3 times it, where the loop with the table took 4.4 times. The
floor of 16.06 bytes per parameter at the bandwidth of that torch step would take 14.6 ms: the
loop reaches 18% of it, from 13%.

The loop is called directly, as every other loop is ([calling the loop](fast.html#direct_call)):
Inductor hands the C++ function buffers it allocates on every call (and, while the nearest code
was read from tables, the tables, which it copied), and the direct call supplies them. So a
process with a warm cache loads the saved loop without importing Inductor: the first step of a warm process took 0.68 s, against
2.0 s before, and a group whose parameters all took their plans takes [the steady
step](fast.html#steady).

On a model of 50M parameters (16 matrices of $1024 \times 3072$) the first step of a warm process
took 2.0 s, and more than half of it was making the state: quantizing moments of zeros, element
by element, with a search for each. A moment of zeros is the code of zero in every place and a
scale of zero for every block, which [`quantize_zeros`](#quantize_zeros) writes directly; the
first step now takes 0.8 s. With an empty cache, where the loop is compiled, it took 12.2 s.
"""

from typing import Dict, List, Union

import torch

# 32 bits of an `int64`. Every value computed below stays below $2^{32}$ and each product below
# $2^{63}$, so the arithmetic is exact in `int64`, in eager PyTorch and in the compiled loop.
MASK32 = 0xFFFFFFFF
# An odd multiplier below $2^{31}$ that mixes well in the hash $h$
MULTIPLIER = 0x45D9F3B
# $G = 2^{32} (1 - \frac{1}{\varphi})$, from the golden ratio $\varphi$: consecutive indices
# $i$ give words $i G$ spread evenly over $0, \dots, 2^{32} - 1$
GOLDEN = 0x61C88647


def mix(x: torch.Tensor) -> torch.Tensor:
    r"""
    ### The hash $h$

    A bijection of 32-bit numbers (each step can be undone), so distinct inputs give distinct
    outputs; each output bit depends on every input bit. It makes the seeds $z$, in Python.
    """
    x = x ^ (x >> 16)
    x = (x * MULTIPLIER) & MASK32
    x = x ^ (x >> 16)
    x = (x * MULTIPLIER) & MASK32
    return x ^ (x >> 16)


def random_bits(like: torch.Tensor, seed: Union[int, torch.Tensor], count: int) -> List[torch.Tensor]:
    r"""
    <a id="random_bits"></a>

    ### Random bits for `count` tensors shaped like `like`

    16 bits per element for each of `count` tensors, as `int32`, from the 32-bit word
    $w_i = (i \, G + z) \bmod 2^{32}$. `seed` $z$ is a Python `int`, or a 0-d tensor when the
    compiled loop takes it as an input. $i$ is the element's place in memory: its place in the
    row-by-row order for a contiguous tensor, and for a dense one in another layout (a weight in
    `channels_last`), where the [compiled loop](fast.html#in_memory_order) finds it too.

    The word is computed in `int32`, whose products and sums wrap around modulo $2^{32}$ in
    PyTorch and in the compiled loop alike, so $\bmod 2^{32}$ costs nothing: the bits are those
    of the exact value, and the loop's integers are as wide as its `float32` numbers (in `int64`
    they would be half as many per vector instruction, and the bits the most costly part of the
    loop). `tests/optimizers/test_low_precision.py` checks the words against exact integers.
    """
    index = torch.arange(like.numel(), dtype=torch.int32, device=like.device)
    index = index.view(like.shape) if like.is_contiguous() or not is_dense(like) else \
        index.as_strided(like.shape, like.stride())
    # $z$ as `int32`: through `int64`, which keeps its low 32 bits, since $z \ge 2^{31}$ has no `int32`
    word = index * GOLDEN + torch.as_tensor(seed).to(torch.int64).to(torch.int32)
    bits = []
    for k in range(count):
        if k > 0 and k % 2 == 0:
            # A third and fourth tensor: another word, $w_i G \bmod 2^{32}$, uniform too but not
            # independent of the first, only unrelated to it
            word = word * GOLDEN
        # The top half by an arithmetic shift, which copies the sign bit, so it is masked too
        bits.append((word >> (16 * (k % 2))) & 0xFFFF)
    return bits


def is_dense(tensor: torch.Tensor) -> bool:
    """Whether `tensor`'s elements fill a block of memory, with no gaps and no overlaps, in any order."""
    return tensor.permute(sorted(range(tensor.dim()), key=lambda dim: -tensor.stride(dim))).is_contiguous()


def stochastic_round(x: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
    r"""
    ### Stochastic rounding of `float32` `x` to `bfloat16`

    `bits` are $u$, 16 random bits per element. Add them to the code of $x$ and drop its low 16
    bits: the result is $b$ with probability $\frac{x - a}{b - a}$, else $a$. The `bfloat16`
    conversion at the end is exact, since the low bits are already zero.
    """
    code = x.view(torch.int32)
    # $(c + u)$ with the low 16 bits cleared; `-65536` is `0xFFFF0000` as an `int32`
    rounded = (code + bits) & -65536
    return rounded.view(torch.float32).to(torch.bfloat16)


def kahan_round(after: torch.Tensor, compensation: torch.Tensor) -> torch.Tensor:
    r"""
    <a id="kahan_round"></a>

    ### One Kahan step

    * `after` is $\tilde{\theta}_t$, the optimizer's update in `float32` of $\tilde{\theta}_{t-1} = \theta_{t-1} + c_{t-1}$
    * `compensation` is $c_{t-1}$, in `bfloat16`; it is overwritten with $c_t$

    Returns $\theta_t$ in `bfloat16`.
    """
    # $\theta_t = \operatorname{round}(\tilde{\theta}_t)$, to nearest
    param = after.to(torch.bfloat16)
    # $c_t = \tilde{\theta}_t - \theta_t$
    compensation.copy_(after - param.float())
    return param


# Values per block $b$, each block with its own scale $N_b$
BLOCK = 256
# Tensors with fewer elements keep `float32` state (see [the threshold](#threshold))
MIN_QUANTIZED_NUMEL = 4096
# The state key of a quantized moment's scales: `exp_avg` and `exp_avg_absmax`
ABSMAX = '_absmax'


def as_blocks(flat: torch.Tensor) -> torch.Tensor:
    """A flat tensor as rows of `BLOCK` values, the last row padded with zeros."""
    padding = -flat.numel() % BLOCK
    if padding:
        flat = torch.nn.functional.pad(flat, (0, padding))
    return flat.view(-1, BLOCK)


def denominator_of(fraction_bits: torch.Tensor, bits: int) -> torch.Tensor:
    r"""
    <a id="denominator_of"></a>

    $2^{\text{bits}} \, 5^{\text{bits} - F}$ for `int32` $F$ from $0$ to $\text{bits} - 1$, as
    `float32`: $2^{\text{bits}} \cdot 5 \cdot 5^n$ with $n = \text{bits} - 1 - F$ from $0$ to $7$, and
    $5^n$ the product of $5^{2^i}$ over the three bits $i$ of $n$. The first choice carries the
    constant factor $2^{\text{bits}} \cdot 5$ along, so three choices and two products make it,
    where the product over the four bits of $\text{bits} - F$, and $2^{\text{bits}}$ after it,
    took four choices and four products (an 8-bit step on 262,144 elements from the cache then
    took 2% more time). Each product is a power of two
    times an odd integer below $5^8 < 2^{24}$, and so exact.
    """
    n = (bits - 1) - fraction_bits
    power = torch.where((n & 1) > 0, (1 << bits) * 25., (1 << bits) * 5.)
    power = power * torch.where((n & 2) > 0, 25., 1.)
    return power * torch.where((n & 4) > 0, 625., 1.)


def magnitude_of(pattern: torch.Tensor, bits: int) -> torch.Tensor:
    r"""
    <a id="magnitude_of"></a>

    ### A code's magnitude, computed

    The value of the code $c$ of `bits` bits without a sign bit, `pattern`, an `int32` tensor,
    as `float32` ([how](#decoding)).
    """
    # $c$ in `float32`, exact: with its fraction bits cleared it is $2^F$, the power of two of its
    # leading one (and $0$ for $c = 0$), and its exponent field, the bits above those 23, is $F + 127$
    value = pattern.float()
    top = (value.view(torch.int32) & 0x7F800000).view(torch.float32)
    fraction_bits = ((top.view(torch.int32) >> 23) - 127).clamp(min=0)
    # $\frac{9 (c + 1) - 8 \cdot 2^F}{2^{\text{bits}} \, 5^{\text{bits} - F}}$, a division of two
    # integers that `float32` holds exactly, so rounded once; and $0$ for $c = 0$
    numerator = 9 * (value + 1) - 8 * top
    denominator = denominator_of(fraction_bits, bits)
    return torch.where(pattern > 0, numerator / denominator, 0.)


def code_values(codes: torch.Tensor, code_map: str) -> torch.Tensor:
    r"""
    <a id="dynamic_map"></a>

    ### The dynamic code map

    The values $q_j$ of the positions $j$ in `codes` (any integer dtype) in the map named
    `code_map`, `'signed'` (in $[-1, 1]$) or `'unsigned'` (in $[0, 1]$), as `float32`. The
    position of a value is its bit pattern for $v_t$; for $m_t$, $128$ plus the pattern of its
    magnitude for a positive value and $127$ minus it for a negative one ([above](#code-map)).
    """
    position = codes.to(torch.int32)
    if code_map == 'unsigned':
        return magnitude_of(position, 8)
    positive = position >= 128
    magnitude = magnitude_of(torch.where(positive, position - 128, 127 - position), 7)
    # The sign by a multiplication, exact: read once, the magnitude stays inside the loop that uses
    # it, where `torch.where(positive, magnitude, -magnitude)`, which reads it twice, made Inductor
    # store it ([one pass per row](fast.html#one_pass_per_row))
    return magnitude * torch.where(positive, 1., -1.)


class NearestCode:
    r"""
    <a id="NearestCode"></a>

    ### The nearest code, computed

    Finds the nearest code of a normalized value $x$ with the map named `code_map` by arithmetic
    alone ([how](#nearest-code)). The constants are the map's own: for each decade $E$ from the
    top, its lower end $10^{-E-1}$ (the value of the code $2^F - 1$, as `float32`), and for the
    decade below it the $D$ and $8 \cdot 2^F$ of its line.
    """

    def __init__(self, code_map: str):
        self.signed = code_map == 'signed'
        # The bits of a magnitude's pattern, after the sign bit or without one
        self.bits = 7 if self.signed else 8
        magnitudes = code_values(torch.arange(256), code_map)[128 if self.signed else 0:]
        # The line of the top decade, $E = 0$ and $F = \text{bits} - 1$
        self.top = (float(2 ** self.bits * 5), float(8 * 2 ** (self.bits - 1)))
        self.decades = []
        for below in range(1, self.bits):
            # $10^{-E-1}$, the code $2^F - 1$ of the decade $E$ = `below - 1`, and the line of decade `below`;
            # under the last, $10^{-\text{bits}+1}$, the line through the codes $0$ and $1$
            fraction_bits = self.bits - 1 - below
            lower_end = float(magnitudes[2 ** (fraction_bits + 1) - 1])
            line = ((float(2 ** self.bits * 5 ** (below + 1)), float(8 * 2 ** fraction_bits)) if fraction_bits > 0 else
                    (float(9 * 10 ** (self.bits - 1)), 9.))
            self.decades.append((lower_end, line))

    def __call__(self, normalized: torch.Tensor) -> torch.Tensor:
        r"""
        The position in the sorted map of the code nearest to each element of `normalized`, a
        `float32` tensor, as `int32`; a value exactly halfway between two codes takes the lower.
        """
        # $|x|$, at most $1$, which a value of a block divided by its largest is; the unsigned map
        # of $v_t$ stores any negative value as zero, its nearest code
        magnitude = normalized.abs().clamp(max=1) if self.signed else normalized.clamp(0, 1)
        # $D_E$ and $8 \cdot 2^F$ of the decade of $|x|$: each power of ten at or above $|x|$ moves
        # it one decade down
        denominator = torch.full_like(magnitude, self.top[0])
        eight_top = torch.full_like(magnitude, self.top[1])
        for lower_end, (decade_denominator, decade_eight_top) in self.decades:
            lower_decade = magnitude <= lower_end
            denominator = torch.where(lower_decade, decade_denominator, denominator)
            eight_top = torch.where(lower_decade, decade_eight_top, eight_top)
        # $j = \lfloor c(|x|) \rfloor$, $c(y) = \frac{D_E \, y + 8 \cdot 2^F}{9} - 1$, or one beside it
        position = ((magnitude * denominator + eight_top) * (1 / 9)).int() - 1
        # $p_j$ and $p_{j+1}$, numerators $N = 9 (j + 1) - 8 \cdot 2^F$ and $N + 9$ over $D_E$,
        # the ratios of integers that `magnitude_of` divides, so the same `float32`
        numerator = 9 * (position + 1).float() - eight_top
        lower, upper = numerator / denominator, (numerator + 9) / denominator
        # $t + e = p_j + p_{j+1}$ exactly: $t$ the rounded sum and $e$ its error (Knuth's two-sum)
        total = lower + upper
        upper_part = total - lower
        error = (lower - (total - upper_part)) + (upper - upper_part)
        # $2|x| - t$, exact where it is small, and compared with $e$: $2|x| > p_j + p_{j+1}$
        excess = 2 * magnitude - total
        above = (excess > error).int()
        if not self.signed:
            # $j + [|x| > \mu_j]$
            return position + above
        # $128 + j + [|x| > \mu_j]$ for $x > 0$, and $127 - j - [|x| \ge \mu_j]$ for $x \le 0$, the
        # mirror image, where a value halfway takes the lower position, the larger magnitude
        return torch.where(normalized > 0, 128 + position + above, 127 - position - (excess >= error).int())


NEAREST_CODE = {name: NearestCode(name) for name in ('signed', 'unsigned')}


def quantize(x: torch.Tensor, code_map: str):
    r"""
    <a id="quantize"></a>

    ### Blockwise quantization

    Quantize `x` with the map named `code_map`: returns the codes $T^Q$, `uint8` in the shape of
    `x`, and the scale of each block, $N_b$, in `float32`.
    """
    blocks = as_blocks(x.reshape(-1).float())
    # $N_b = \max_i |T_{b,i}|$
    absmax = blocks.abs().amax(dim=1)
    # $\frac{T_{b,i}}{N_b}$; a block of zeros has $N_b = 0$, and any scale codes it as zeros
    normalized = blocks / absmax.clamp(min=torch.finfo(torch.float32).tiny).unsqueeze(1)
    # $T^Q_{b,i} = \arg\min_j \big| q_j - \frac{T_{b,i}}{N_b} \big|$ ([how](#nearest-code))
    codes = NEAREST_CODE[code_map](normalized).to(torch.uint8)
    return codes.view(-1)[:x.numel()].view(x.shape).clone(), absmax


def quantize_zeros(like: torch.Tensor, code_map: str):
    r"""
    <a id="quantize_zeros"></a>

    `quantize` of a tensor of zeros shaped like `like`, as every moment starts: the code of zero
    in every position, and every scale zero. Found by quantizing one zero, not by a search for
    each element: for a model's first step, the search took about half of it.
    """
    zero, _ = quantize(torch.zeros(1, device=like.device), code_map)
    codes = torch.full(like.shape, int(zero), dtype=torch.uint8, device=like.device)
    return codes, torch.zeros(-(-like.numel() // BLOCK), dtype=torch.float32, device=like.device)


def dequantize(codes: torch.Tensor, absmax: torch.Tensor, code_map: str) -> torch.Tensor:
    r"""
    <a id="dequantize"></a>

    ### Dequantization

    The `float32` values of `codes` with their blocks' scales `absmax`.
    """
    # $T^D_{b,i} = q_{T^Q_{b,i}} N_b$
    values = code_values(codes, code_map)
    if codes.numel() % BLOCK == 0:
        # Whole blocks, as the compiled loop has: no padding to cut off, and no size read from a
        # tensor made on the way, which Inductor would count as a second use of it and store it
        return (values.view(-1, BLOCK) * absmax.unsqueeze(1)).view(codes.shape)
    blocks = as_blocks(values.reshape(-1)) * absmax.unsqueeze(1)
    return blocks.view(-1)[:codes.numel()].view(codes.shape)


def step_in_float32(step_param, state: dict, numbers, grad: torch.Tensor, param: torch.Tensor,
                    code_maps: Dict[str, str], state_dtype: Union[torch.dtype, str, None] = None):
    r"""
    <a id="step_in_float32"></a>

    ### A step on low-precision state

    Run an optimizer's `step_param` on `float32` copies of the `bfloat16` or 8-bit state tensors (and
    of a `bfloat16` parameter), then write them back: `bfloat16` state with stochastic rounding,
    8-bit state [quantized](#quantize) anew, and the parameter with Kahan summation if it has a
    `kahan_comp` $c$, or else rounded to nearest. `code_maps` names the map of each state tensor
    that the optimizer may keep in 8 bits (its `quantized_state`); a tensor is in 8 bits when its
    scales are in the state beside it. `step_param` sees the state as in `float32`, without the scales.
    An entry that `step_param` makes in place of a `None` (SGD's momentum, which starts as the first
    gradient) takes `state_dtype` if that is `torch.bfloat16`, rounded to nearest: it is one value,
    not a sum of many small steps. [The template optimizer](optimizer.html#GenericAdaptiveOptimizer) calls this in place of
    `step_param` when it keeps state in low precision or sums with Kahan; the fast path compiles it
    for `bfloat16`, so that the copies live only in registers.
    """
    compensation = state.get('kahan_comp')
    narrow = [key for key, value in state.items()
              if isinstance(value, torch.Tensor) and value.dtype == torch.bfloat16 and value is not compensation
              and value.shape == param.shape]
    quantized = [key for key in code_maps if key + ABSMAX in state]
    scales = {key + ABSMAX for key in quantized}
    working = {key: value for key, value in state.items() if key not in scales}
    for key in narrow:
        working[key] = state[key].float()
    for key in quantized:
        working[key] = dequantize(state[key], state[key + ABSMAX], code_maps[key])
    # A `bfloat16` parameter in `float32`, with its compensation added: $\tilde{\theta}_{t-1}$
    wide_param = param if param.dtype != torch.bfloat16 else \
        param.float() if compensation is None else param.float() + compensation.float()
    step_param(working, numbers, grad.float(), wide_param)
    # (8-bit state alone needs no random bits, and its steps have no seed)
    for key, bits in zip(narrow, random_bits(param, numbers.rounding_seed, len(narrow)) if narrow else []):
        state[key].copy_(stochastic_round(working[key], bits))
    for key in quantized:
        codes, absmax = quantize(working[key], code_maps[key])
        state[key].copy_(codes)
        state[key + ABSMAX].copy_(absmax)
    # Entries that `step_param` created or replaced, rather than updated in place
    for key, value in working.items():
        if key not in narrow and key not in quantized:
            made = state.get(key, ...) is None and isinstance(value, torch.Tensor) and value.shape == param.shape
            state[key] = value.to(torch.bfloat16) if made and state_dtype == torch.bfloat16 else value
    if wide_param is not param:
        param.copy_(wide_param if compensation is None else kahan_round(wide_param, compensation))


def rounding_seed(seed: int, position: int, step: int, offset: int = 0) -> int:
    r"""
    <a id="rounding_seed"></a>

    $z$ for the parameter at `position` among the optimizer's parameters, at step $t$ = `step`:
    the hash of the optimizer's `seed`, the position and the step, one after another.

    A shard of the parameter (under [FSDP2](distributed.html#fsdp2)) whose elements start at
    `offset` $o$ in the whole flattened tensor takes $z + o \, G$: its element $i$ is the whole's
    $i + o$, whose word is $(i + o) \, G + z = i \, G + (z + o \, G)$. So each shard draws the bits
    that one process draws for the same elements, and the shards of a run end as that process does.
    """
    z = mix((mix((mix(seed & MASK32) + position) & MASK32) + step) & MASK32)
    return (z + offset * GOLDEN) & MASK32
