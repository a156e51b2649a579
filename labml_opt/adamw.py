r"""
---
title: AdamW optimizer
summary: An annotated PyTorch implementation of AdamW, Adam with weight decay decoupled from the adaptive step.
---

# AdamW

AdamW comes from [*Decoupled Weight Decay Regularization*](https://arxiv.org/abs/1711.05101)
by Loshchilov and Hutter. It is [Adam](adam.html) with one change in where weight decay
enters: instead of adding $\lambda \theta_{t-1}$ to the gradient, it shrinks the parameters
directly.

\begin{align}
\theta_{t-1} &\leftarrow \theta_{t-1} (1 - \alpha \lambda) \\
m_t &\leftarrow \beta_1 m_{t-1} + (1 - \beta_1) g_t \\
v_t &\leftarrow \beta_2 v_{t-1} + (1 - \beta_2) g_t^2 \\
\theta_t &\leftarrow \theta_{t-1} - \alpha \frac{\hat{m}_t}{\sqrt{\hat{v}_t} + \epsilon}
\end{align}

with Adam's bias-corrected averages $\hat{m}_t = \frac{m_t}{1 - \beta_1^t}$ and
$\hat{v}_t = \frac{v_t}{1 - \beta_2^t}$. Here $g_t$ is the gradient of the loss alone; the decay
never reaches $m_t$ or $v_t$.

## Why it works

For plain SGD, adding $\frac{\lambda}{2} \lVert \theta \rVert^2$ to the loss and shrinking
$\theta$ by $\alpha \lambda$ each step are the same thing. For Adam they are not. The $L_2$
term $\lambda \theta_{t-1}$ joins the gradient, and the sum is divided by
$\sqrt{\hat{v}_t}$. A weight whose gradients are large has a large $\sqrt{\hat{v}_t}$, so its
decay is divided down and it is barely regularized; a weight with small gradients is decayed
hard. The strength of the regularization ends up depending on the gradient history of each
weight, which is not what $\lambda$ was meant to say.

Decoupling takes the decay out of the adaptive part: every weight shrinks by the same factor
$1 - \alpha \lambda$, and the adaptive step only sees the loss. The paper finds that this
makes good values of $\alpha$ and $\lambda$ far less dependent on each other, and that Adam
then generalizes about as well as SGD with momentum on image classification.

## Conventions

This class follows `torch.optim.AdamW`: `weight_decay` defaults to $10^{-2}$ and the decay is
scaled by the current learning rate, $1 - \alpha \lambda$. In the paper the decay is scaled
only by the schedule multiplier, which the paper calls $\eta_t$, not by $\alpha$, so a paper value of $\lambda$
corresponds to $\lambda / \alpha$ here. Decay that ignores the learning rate is available as
`WeightDecay(weight_decouple=True, absolute=True)`; see [the shared page](optimizer.html#WeightDecay).

The whole algorithm is therefore Adam with a different default [`WeightDecay`](optimizer.html#WeightDecay),
which is what the code below says.
"""

from typing import Any, Dict, Optional, Tuple, Union

from labml_opt.optimizer import Params, WeightDecay, as_weight_decay
from labml_opt.adam import Adam


class AdamW(Adam):
    """
    ## AdamW optimizer
    """

    def __init__(self, params: Params, lr: float = 1e-3, betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: Union[float, WeightDecay] = 1e-2, amsgrad: bool = False,
                 optimized_update: bool = True, maximize: bool = False,
                 defaults: Optional[Dict[str, Any]] = None, **implementation: Any):
        r"""
        * `params` is the list of parameters, or of param groups
        * `lr` is the learning rate $\alpha$
        * `betas` is the pair $(\beta_1, \beta_2)$
        * `eps` is $\epsilon$
        * `weight_decay` is $\lambda$: a float means decoupled decay
          $\theta_{t-1} \leftarrow \theta_{t-1} (1 - \alpha \lambda)$, as in `torch.optim.AdamW`;
          pass a [`WeightDecay`](optimizer.html#WeightDecay) for another rule
        * `amsgrad` divides by the largest $v_t$ so far, as [AMSGrad](amsgrad.html)
        * `optimized_update` folds bias correction into the step size, as in [Adam](adam.html)
        * `maximize` ascends the objective instead of descending it
        * `defaults` holds extra group defaults from subclasses
        * `**implementation` are torch's keywords `foreach`, `fused`, `capturable` and `differentiable`,
          and the [low-precision](low_precision.html) options `state_dtype`, `kahan_sum` and `seed`,
          passed to [Adam](adam.html)
        """
        # The one difference from Adam: a float `weight_decay` means decoupled decay
        super().__init__(params, lr=lr, betas=betas, eps=eps,
                         weight_decay=as_weight_decay(weight_decay, decoupled=True), amsgrad=amsgrad,
                         optimized_update=optimized_update, maximize=maximize, defaults=defaults, **implementation)

    def load_state_dict(self, state_dict: Dict[str, Any]):
        """
        The decay stays AdamW's whatever the saved groups say, as with `torch.optim.AdamW`: the
        state of an `Adam` loads, and goes on with decoupled decay.
        """
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            group['decoupled_weight_decay'] = self.weight_decay.weight_decouple
