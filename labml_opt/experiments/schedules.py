r"""
---
title: Hyper-parameter schedules
summary: Annealers as plain functions of the training position, and combine_scheds to join them into warm-up, decay and one-cycle schedules.
---

# Hyper-parameter schedules

A schedule here is a plain function from the *position* in training, $p \in [0, 1]$ (the
fraction of all training batches done so far), to a value. Plain functions can be plotted,
tested and composed without any training loop; the
[`ParamScheduler`](learner.html#ParamScheduler) callback is what writes their values into the
optimizer's param groups.

An *annealer* goes from a value $a$ at $p = 0$ to a value $b$ at $p = 1$:

\begin{align}
\text{linear:} \quad & a + p (b - a) \\
\text{cosine:} \quad & b + \frac{a - b}{2} \big(1 + \cos(\pi p)\big) \\
\text{exponential:} \quad & a \left(\frac{b}{a}\right)^p \\
\text{constant:} \quad & a
\end{align}

Cosine leaves $a$ and arrives at $b$ with zero slope, so a cosine phase neither jolts the
optimizer at its start nor stops abruptly at its end. The exponential annealer moves by a
constant *ratio* per step, which is what a learning-rate range test needs: it spends as many
batches between $10^{-5}$ and $10^{-4}$ as between $10^{-1}$ and $1$.

[`combine_scheds`](#combine_scheds) glues annealers into phases, such as a linear warm-up
followed by cosine decay, or the two cosine phases of one-cycle training.
"""

import bisect
import math
from typing import Callable, List, Sequence

# A schedule maps the position $p \in [0, 1]$ to a value.
Schedule = Callable[[float], float]


def linear(start: float, end: float) -> Schedule:
    """$a + p (b - a)$, from `start` $a$ to `end` $b$."""
    return lambda pos: start + pos * (end - start)


def cosine(start: float, end: float) -> Schedule:
    r"""$b + \frac{a - b}{2} (1 + \cos(\pi p))$, from `start` $a$ to `end` $b$."""
    return lambda pos: end + (start - end) / 2 * (1 + math.cos(math.pi * pos))


def exponential(start: float, end: float) -> Schedule:
    r"""$a (b / a)^p$, from `start` $a$ to `end` $b$; both must be positive."""
    if start <= 0 or end <= 0:
        raise ValueError(f'Invalid exponential schedule from {start!r} to {end!r}: both ends must be > 0')
    return lambda pos: start * (end / start) ** pos


def constant(value: float) -> Schedule:
    """The same `value` everywhere."""
    return lambda pos: value


def combine_scheds(fractions: Sequence[float], schedules: Sequence[Schedule]) -> Schedule:
    r"""
    <a id="combine_scheds"></a>

    ## Schedules in phases

    Phase $i$ takes up the fraction `fractions[i]` of training and runs `schedules[i]` over its
    own position $p_i = (p - s_i) / f_i$, where $s_i$ is the sum of the earlier fractions.
    The fractions must be positive and add up to one.

    At the very end, $p = 1$ belongs to the last phase with $p_i = 1$, rather than to a phase
    that does not exist. A phase boundary belongs to the phase it starts.
    """
    if len(fractions) != len(schedules) or not fractions:
        raise ValueError(f'combine_scheds needs one fraction per schedule, '
                         f'got {len(fractions)} fractions and {len(schedules)} schedules')
    if any(not f > 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f'Invalid fractions {list(fractions)!r}: each must be > 0 and they must add up to 1')
    # $s_i$: where each phase starts, and where the last one ends.
    starts: List[float] = [0.]
    for f in fractions:
        starts.append(starts[-1] + f)

    def schedule(pos: float) -> float:
        if not 0 <= pos <= 1:
            raise ValueError(f'Invalid position {pos!r}: must be in [0, 1]')
        phase = min(bisect.bisect_right(starts, pos) - 1, len(fractions) - 1)
        # $p_i = (p - s_i) / f_i$, capped at 1 against rounding in the sum of the fractions.
        return schedules[phase](min(1., (pos - starts[phase]) / fractions[phase]))

    return schedule


def warmup_cosine(peak: float, warmup: float, final: float = 0.) -> Schedule:
    """
    A linear warm-up from zero to `peak` over the first `warmup` fraction of training, then
    cosine decay to `final`.
    """
    return combine_scheds([warmup, 1 - warmup], [linear(0., peak), cosine(peak, final)])


def one_cycle(low: float, high: float, final: float, pct_start: float = 0.25) -> Schedule:
    r"""
    One-cycle: cosine from `low` up to `high` over the first `pct_start` of training, then
    cosine down to `final`. For the learning rate `low` is small and `final` smaller still;
    for momentum or $\beta_1$ the cycle runs the other way, high to low and back, so that
    momentum is weakest exactly when the steps are largest.
    """
    return combine_scheds([pct_start, 1 - pct_start], [cosine(low, high), cosine(high, final)])
