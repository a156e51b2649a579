r"""
---
title: A3C on CartPole with a shared Adam
summary: Asynchronous advantage actor-critic on gymnasium's CartPole-v1, with worker processes that train one shared model through one SharedAdam.
---

# A3C on CartPole

This experiment trains an agent for gymnasium's `CartPole-v1` with
[A3C](https://arxiv.org/abs/1602.01783), *asynchronous advantage actor-critic*: several worker
processes each play their own copy of the game and update one model that they all share, through
one [`SharedAdam`](../shared_adam.html) whose moments and step counter live in shared memory.

Run it with

```
python -m labml_opt.experiments.a3c --workers 2 --seed 0
```

and `--help` for the other settings; each is checked against its valid range before any worker
starts, and a loss that stops being a finite number fails the worker, and so the command. Progress is tracked with labml: the return of every episode
and the mean losses over it, for each worker, and the settings of the run. The workers are
started by [`run_workers`](../shared_adam.html#run_workers): if one of them fails, the others are
stopped and the command exits with code 1, naming the worker; Ctrl-C stops them all.

## The algorithm

The model has two heads on the observation $s$: a policy $\pi_\theta(a | s)$ (the *actor*) and a
value estimate $V_\theta(s)$ (the *critic*). A worker repeats:

1. copy the shared parameters into its local model;
2. play $n$ steps with the local policy, or fewer if the episode ends;
3. compute the $n$-step return of every step $i$ of the rollout, bootstrapping from the value of
   the state where it stopped,
   $R_i = r_i + \gamma r_{i+1} + \dots + \gamma^{n-i} V(s_n)$, where $V(s_n)=0$ if the pole fell;
4. compute the advantage $A_i = R_i - V(s_i)$: how much better the step went than expected;
5. descend on the loss

\begin{align}
\mathcal{L} = \frac{1}{n} \sum_i \Big( &-\log \pi(a_i | s_i) A_i \\
  &+ c_V \big(R_i - V(s_i)\big)^2 - c_H \mathcal{H}\big(\pi(\cdot | s_i)\big) \Big)
\end{align}

with its local gradients, applied to the shared parameters by the shared optimizer.

The policy term makes actions with positive advantage more likely; $A_i$ is treated as a
constant there. The value term fits $V$ to the returns. The entropy bonus $c_H \mathcal{H}$
keeps the policy from becoming deterministic before it has found what works.

CartPole ends an episode in two ways: the pole falls (*terminated*), or 500 steps pass
(*truncated*). A truncated episode did not fail, so its last state is bootstrapped from $V$ like
any other cut of a rollout; treating it as a fall would teach the critic that balancing for 500
steps is worth nothing.

## Making it converge

The learning rate decays linearly to zero over the budget of environment steps, read from a
counter that all workers share: a policy gradient with a constant step keeps shaking a policy
that is already perfect, and a 100-episode average of 475 needs almost every episode to reach
500. The run stops as soon as the average of the last 100 episodes, over all workers, reaches
the goal.

## Results

![returns](results/a3c_returns.svg)

[[include: results/a3c_summary.md]]

The plot and the table come from the committed run summary `results/a3c_summary.json`, written
by `python -m labml_opt.experiments.a3c --workers 2 --seed 0` on a machine with 2 cores that
other jobs were sharing (the wall time is what that machine gave us);
`python -m labml_opt.experiments.a3c --plot` redraws them from the summary without training.
That run took 59 s from starting the workers to their end; wall-clock times change with the
load of the machine, so each run writes them to `results/a3c_timing.json`, which git ignores,
instead of the summary.
Hogwild updates interleave differently on every run, so a run is not bit-for-bit repeatable,
even with the same seed: an earlier run with seed 0 reached the goal only after 232,460
environment steps (66 s). Runs with `--seed 1` and `--seed 2` reached it after 91,260 and 91,992
steps, in 99 s and 132 s.
"""

import argparse
import json
import math
import queue
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import gymnasium as gym
import torch
import torch.multiprocessing as mp
from labml import experiment, tracker
from torch import nn

from labml_opt.experiments.results import RESULTS, results_folder
from labml_opt.experiments.tracking import (AppUnreachable, Progress, labml_writers, plain_console, run_uuid,
                                            wait_for_labml)
from labml_opt.shared_adam import SharedAdam, WorkerError, run_workers


@dataclass
class Configs:
    """
    ## Settings of a run
    """
    # Number of worker processes
    workers: int = 2
    # Budget of environment steps, summed over all workers; the learning rate reaches zero there
    total_steps: int = 400_000
    # Rollout length $n$
    n_steps: int = 16
    # Discount $\gamma$
    gamma: float = 0.99
    # Initial learning rate $\alpha$ of the shared Adam
    lr: float = 2e-3
    # Weight $c_V$ of the value loss
    value_coef: float = 0.5
    # Weight $c_H$ of the entropy bonus
    entropy_coef: float = 0.01
    # Largest gradient norm; larger gradients are scaled down
    grad_clip: float = 1.0
    # Width of the hidden layers
    d_hidden: int = 64
    # Goal: the average return over `window` consecutive episodes
    goal: float = 475.
    window: int = 100
    seed: int = 0
    # Serialise each parameter's update with the optimizer's lock (see `SharedAdam`)
    lock: bool = False
    start_method: str = 'spawn'
    # Stop with an error after this many seconds
    timeout: float = 3600.
    environment: str = field(default='CartPole-v1')


class ActorCritic(nn.Module):
    """
    ## The model

    Two small separate networks: the policy and the value function learn at different speeds,
    and on a task this small sharing a body brings no benefit and couples their gradients.
    """

    def __init__(self, n_observations: int, n_actions: int, d_hidden: int):
        super().__init__()
        self.actor = nn.Sequential(nn.Linear(n_observations, d_hidden), nn.Tanh(), nn.Linear(d_hidden, n_actions))
        self.critic = nn.Sequential(nn.Linear(n_observations, d_hidden), nn.Tanh(), nn.Linear(d_hidden, 1))

    def forward(self, observations: torch.Tensor):
        r"""Logits of $\pi(\cdot | s)$ and the value $V(s)$"""
        return self.actor(observations), self.critic(observations).squeeze(-1)


def make_model(configs: Configs) -> ActorCritic:
    """The model for the configured environment, with its observation and action sizes."""
    env = gym.make(configs.environment)
    model = ActorCritic(env.observation_space.shape[0], env.action_space.n, configs.d_hidden)
    env.close()
    return model


def n_step_returns(rewards: List[float], bootstrap: float, gamma: float) -> torch.Tensor:
    r"""
    $R_i = r_i + \gamma R_{i+1}$, starting from $R_n = V(s_n)$ (zero after a fall).
    Plain Python floats: for a rollout of a few steps this is faster than tensor operations.
    """
    returns = [0.] * len(rewards)
    value = bootstrap
    for i in reversed(range(len(rewards))):
        value = rewards[i] + gamma * value
        returns[i] = value
    return torch.tensor(returns)


def a3c_loss(model: ActorCritic, observations: torch.Tensor, actions: torch.Tensor, returns: torch.Tensor,
             configs: Configs) -> Dict[str, torch.Tensor]:
    """
    ## The actor-critic loss of one rollout

    One forward pass over the whole rollout, with gradients.
    """
    logits, values = model(observations)
    log_probs = logits.log_softmax(-1)
    # $A_i = R_i - V(s_i)$, a constant for the policy
    advantages = returns - values.detach()
    # $-\log \pi(a_i | s_i) A_i$
    policy_loss = -(log_probs.gather(1, actions.unsqueeze(1)).squeeze(1) * advantages).mean()
    # $\big(R_i - V(s_i)\big)^2$
    value_loss = (returns - values).pow(2).mean()
    # $\mathcal{H}(\pi) = -\sum_a \pi(a | s) \log \pi(a | s)$
    entropy = -(log_probs.exp() * log_probs).sum(-1).mean()
    loss = policy_loss + configs.value_coef * value_loss - configs.entropy_coef * entropy
    return dict(loss=loss, policy_loss=policy_loss, value_loss=value_loss, entropy=entropy)


def worker(rank: int, configs: Configs, model: ActorCritic, optimizer: SharedAdam, progress: torch.Tensor,
           stop: Any, reports: Any):
    """
    ## A worker

    * `model` and `optimizer` are the shared ones
    * `progress` is a shared counter of environment steps over all workers; its increments
      race like any Hogwild update, and a lost one only lengthens the run by a few steps
    * `stop` is an event the parent sets when the goal is reached
    * `reports` is a queue to the parent: one message at the end of every episode
    """
    torch.manual_seed(configs.seed * 1000 + rank + 1)
    env = gym.make(configs.environment)
    observation, _ = env.reset(seed=configs.seed * 1000 + rank + 1)
    observation = torch.from_numpy(observation)
    local = make_model(configs)
    episode_return = 0.
    episode_losses = {'policy_loss': 0., 'value_loss': 0., 'entropy': 0.}
    episode_rollouts = 0

    while not stop.is_set() and int(progress) < configs.total_steps:
        local.load_state_dict(model.state_dict())
        observations, actions, rewards = [], [], []
        terminated = truncated = False
        for _ in range(configs.n_steps):
            with torch.no_grad():
                probs = local.actor(observation).softmax(-1)
            action = int(torch.multinomial(probs, 1))
            next_observation, reward, terminated, truncated, _ = env.step(action)
            observations.append(observation)
            actions.append(action)
            rewards.append(float(reward))
            observation = torch.from_numpy(next_observation)
            if terminated or truncated:
                break

        # $V(s_n)$ of the state the rollout stopped in; zero if the pole fell
        bootstrap = 0.
        if not terminated:
            with torch.no_grad():
                bootstrap = float(local.critic(observation))
        returns = n_step_returns(rewards, bootstrap, configs.gamma)
        losses = a3c_loss(local, torch.stack(observations), torch.tensor(actions), returns, configs)

        # A loss that is no longer finite cannot recover: the worker fails, and with it the command.
        if not math.isfinite(float(losses['loss'])):
            message = (f'the loss became {float(losses["loss"])} after {int(progress)} environment steps; '
                       f'a smaller --lr may keep it finite')
            reports.put(dict(worker=rank, error=message))
            raise FloatingPointError(message)
        local.zero_grad()
        losses['loss'].backward()
        nn.utils.clip_grad_norm_(local.parameters(), configs.grad_clip)
        # Linear decay of $\alpha$ to zero over the shared budget of steps
        done_fraction = min(1., int(progress) / configs.total_steps)
        for group in optimizer.param_groups:
            group['lr'] = configs.lr * (1. - done_fraction)
        # The local gradients become the gradients of the shared parameters, in this process only
        for shared, own in zip(model.parameters(), local.parameters()):
            shared.grad = own.grad
        optimizer.step()
        progress += len(rewards)

        episode_return += sum(rewards)
        for name in episode_losses:
            episode_losses[name] += float(losses[name])
        episode_rollouts += 1
        if terminated or truncated:
            reports.put(dict(worker=rank, steps=int(progress), episode_return=episode_return,
                             **{name: value / episode_rollouts for name, value in episode_losses.items()}))
            observation, _ = env.reset()
            observation = torch.from_numpy(observation)
            episode_return = 0.
            episode_losses = dict.fromkeys(episode_losses, 0.)
            episode_rollouts = 0
    env.close()


class Monitor:
    """
    ## The parent's view of the run

    Drains the workers' reports, tracks them with labml, and sets `stop` when the average return
    of the last `window` episodes reaches the goal.
    """

    def __init__(self, configs: Configs, reports: Any, stop: Any):
        self.configs = configs
        self.reports = reports
        self.stop = stop
        self.episodes: List[Dict[str, Any]] = []
        self.solved_at: Optional[int] = None
        self.best_average = -math.inf
        self.errors: List[str] = []
        self.started = time.monotonic()
        # One line per tenth of the budget of steps where the output is not a terminal
        self.progress = Progress('a3c', [configs.total_steps])
        self.progress.start_run(0, f'{configs.workers} workers')
        self.tenths = 0

    def average(self) -> float:
        """Mean return of the last `window` episodes"""
        recent = self.episodes[-self.configs.window:]
        return sum(e['episode_return'] for e in recent) / len(recent)

    def __call__(self, wait: float = 0.):
        """Take every report in the queue; with `wait`, wait that long for one more to arrive."""
        while True:
            try:
                report = self.reports.get(timeout=wait) if wait else self.reports.get_nowait()
            except queue.Empty:
                return
            if 'error' in report:
                self.errors.append(f'worker {report["worker"]}: {report["error"]}')
                continue
            report['episode'] = len(self.episodes)
            report['seconds'] = time.monotonic() - self.started
            self.episodes.append(report)
            rank = report['worker']
            values = {f'{name}.{rank}': report[name]
                      for name in ('episode_return', 'policy_loss', 'value_loss', 'entropy')}
            if len(self.episodes) >= self.configs.window:
                average = self.average()
                values['average_return'] = average
                self.best_average = max(self.best_average, average)
                if average >= self.configs.goal and self.solved_at is None:
                    self.solved_at = len(self.episodes) - 1
                    self.stop.set()
            tracker.save(report['steps'], values)
            tenths = min(10, 10 * report['steps'] // self.configs.total_steps)
            shown = {'return': report['episode_return']}
            if 'average_return' in values:
                shown['average'] = values['average_return']
            self.progress.update(min(report['steps'], self.configs.total_steps), shown,
                                 f'episode {len(self.episodes)}', final=tenths > self.tenths or self.stop.is_set())
            self.tenths = tenths


def train(configs: Configs, results: Optional[Path] = RESULTS) -> Dict[str, Any]:
    """
    ## Train, and write the run summary to `results`

    Returns the summary.
    """
    torch.manual_seed(configs.seed)
    torch.set_num_threads(1)
    model = make_model(configs)
    model.share_memory()
    context = mp.get_context(configs.start_method)
    optimizer = SharedAdam(model.parameters(), lr=configs.lr,
                           lock=context.Lock() if configs.lock else False)
    progress = torch.zeros((), dtype=torch.int64).share_memory_()
    stop, reports = context.Event(), context.Queue()
    monitor = Monitor(configs, reports, stop)

    plain_console()
    experiment.create(uuid=run_uuid(), name='a3c', writers=labml_writers())
    experiment.configs(asdict(configs))
    started = time.monotonic()
    try:
        with experiment.start():
            run_workers(worker, configs.workers, (configs, model, optimizer, progress, stop, reports),
                        context=context, timeout=configs.timeout, monitor=monitor)
    except WorkerError as error:
        # A worker that failed on purpose said why before it exited.
        monitor(wait=1.)
        raise WorkerError('; '.join([str(error), *monitor.errors])) from None
    finally:
        wait_for_labml()
    wall_time = time.monotonic() - started

    summary = summarize(configs, monitor, int(progress), int(optimizer.state[next(iter(model.parameters()))]['step']))
    timing = timing_of(monitor, wall_time)
    if results is not None:
        results.mkdir(parents=True, exist_ok=True)
        (results / 'a3c_summary.json').write_text(json.dumps(summary, indent=1) + '\n')
        (results / 'a3c_timing.json').write_text(json.dumps(timing, indent=1) + '\n')
        write_report(summary, results)
    return {**summary, **timing}


def timing_of(monitor: Monitor, wall_time: float) -> Dict[str, Any]:
    """
    The wall-clock figures of a run, kept out of the summary (in `a3c_timing.json`, which git
    ignores): they change on every run, with the load of the machine.
    """
    solved = monitor.solved_at
    return dict(wall_time_seconds=round(wall_time, 1),
                solved_after_seconds=None if solved is None else round(monitor.episodes[solved]['seconds'], 1))


def summarize(configs: Configs, monitor: Monitor, env_steps: int, updates: int,
              max_points: int = 400) -> Dict[str, Any]:
    """
    The numbers of a run, with the per-episode returns downsampled to at most `max_points` rows so
    that the committed file stays small. Each row keeps the episode's index, the global step when it
    ended, its return, and the average return of the `window` episodes up to it.
    """
    returns = [e['episode_return'] for e in monitor.episodes]
    window = configs.window
    rows = []
    stride = max(1, math.ceil(len(returns) / max_points))
    for i in range(0, len(returns), stride):
        recent = returns[max(0, i + 1 - window):i + 1]
        rows.append([i, monitor.episodes[i]['steps'], returns[i], round(sum(recent) / len(recent), 2)])
    if returns and rows[-1][0] != len(returns) - 1:
        i = len(returns) - 1
        recent = returns[max(0, i + 1 - window):]
        rows.append([i, monitor.episodes[i]['steps'], returns[i], round(sum(recent) / len(recent), 2)])
    solved = monitor.solved_at
    return dict(
        configs=asdict(configs),
        solved=solved is not None,
        solved_at_episode=solved,
        solved_at_steps=None if solved is None else monitor.episodes[solved]['steps'],
        best_average_return=None if monitor.best_average == -math.inf else round(monitor.best_average, 2),
        episodes=len(returns),
        env_steps=env_steps,
        optimizer_steps=updates,
        torch=torch.__version__,
        columns=['episode', 'env_steps', 'return', f'average_return_last_{window}'],
        rows=rows,
    )


def write_report(summary: Dict[str, Any], results: Path):
    """
    ## Plot and table

    The SVG is made deterministic: a fixed hash salt for element ids and no date in the
    metadata, so that redrawing the same summary changes no byte.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    plt.rcParams['svg.hashsalt'] = 'labml_opt-a3c'
    configs = summary['configs']
    rows = summary['rows']
    figure, axes = plt.subplots(figsize=(7, 3.6))
    axes.plot([r[1] for r in rows], [r[2] for r in rows], '.', markersize=3, alpha=0.4, label='episode return')
    axes.plot([r[1] for r in rows], [r[3] for r in rows], linewidth=1.8,
              label=f'average of last {configs["window"]} episodes')
    axes.axhline(configs['goal'], color='gray', linestyle='--', linewidth=1, label=f'goal {configs["goal"]:g}')
    axes.set_xlabel('environment steps, all workers')
    axes.set_ylabel('return')
    axes.set_title(f'A3C on {configs["environment"]}, {configs["workers"]} workers, seed {configs["seed"]}')
    axes.legend(loc='lower right', fontsize=8)
    figure.tight_layout()
    figure.savefig(results / 'a3c_returns.svg', format='svg', metadata={'Date': None})
    plt.close(figure)

    solved = (f'yes, after {summary["solved_at_episode"] + 1} episodes and {summary["solved_at_steps"]:,} steps'
              if summary['solved'] else 'no')
    lines = ['| | This run |', '|---|---|',
             f'| Goal: average return ≥ {configs["goal"]:g} over {configs["window"]} episodes | {solved} |',
             f'| Best {configs["window"]}-episode average | {summary["best_average_return"]} |',
             f'| Episodes, environment steps, optimizer steps | {summary["episodes"]}, '
             f'{summary["env_steps"]:,}, {summary["optimizer_steps"]:,} |',
             f'| Workers, seed, learning rate | {configs["workers"]}, {configs["seed"]}, {configs["lr"]:g} |',
             f'| PyTorch | {summary["torch"]} |']
    (results / 'a3c_summary.md').write_text('\n'.join(lines) + '\n')


# The valid values of every numeric option, checked before any worker starts (NaN and infinities
# never pass): a test and the text the error gives.
RANGES = {
    'workers': (lambda v: v >= 1, '>= 1'),
    'total_steps': (lambda v: v >= 1, '>= 1'),
    'n_steps': (lambda v: v >= 1, '>= 1'),
    'gamma': (lambda v: 0 <= v <= 1, 'in [0, 1]'),
    'lr': (lambda v: v > 0, '> 0'),
    'value_coef': (lambda v: v >= 0, '>= 0'),
    'entropy_coef': (lambda v: v >= 0, '>= 0'),
    'grad_clip': (lambda v: v > 0, '> 0'),
    'd_hidden': (lambda v: v >= 1, '>= 1'),
    'goal': (lambda v: True, 'a finite number'),
    'window': (lambda v: v >= 1, '>= 1'),
    'seed': (lambda v: v >= 0, '>= 0'),
    'timeout': (lambda v: v > 0, '> 0'),
}


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line options: one per field of `Configs`, plus the output options."""
    parser = argparse.ArgumentParser(prog='python -m labml_opt.experiments.a3c',
                                     description='A3C on CartPole-v1 with worker processes sharing one model and one SharedAdam.')
    defaults = Configs()
    parser.add_argument('--workers', type=int, default=defaults.workers, help='number of worker processes')
    parser.add_argument('--total-steps', type=int, default=defaults.total_steps,
                        help='budget of environment steps over all workers')
    parser.add_argument('--n-steps', type=int, default=defaults.n_steps, help='rollout length n')
    parser.add_argument('--gamma', type=float, default=defaults.gamma, help='discount')
    parser.add_argument('--lr', type=float, default=defaults.lr, help='initial learning rate of the shared Adam')
    parser.add_argument('--value-coef', type=float, default=defaults.value_coef, help='weight of the value loss')
    parser.add_argument('--entropy-coef', type=float, default=defaults.entropy_coef, help='weight of the entropy bonus')
    parser.add_argument('--grad-clip', type=float, default=defaults.grad_clip, help='largest gradient norm')
    parser.add_argument('--d-hidden', type=int, default=defaults.d_hidden, help='width of the hidden layers')
    parser.add_argument('--goal', type=float, default=defaults.goal, help='average return that ends the run')
    parser.add_argument('--window', type=int, default=defaults.window, help='episodes in the average')
    parser.add_argument('--seed', type=int, default=defaults.seed, help='seed of the model and the workers')
    parser.add_argument('--lock', action='store_true', help="serialise each parameter's update")
    parser.add_argument('--start-method', choices=['spawn', 'fork', 'forkserver'], default=defaults.start_method)
    parser.add_argument('--timeout', type=float, default=defaults.timeout, help='seconds before the run is stopped')
    parser.add_argument('--results', type=Path, default=None,
                        help='where the summary, plot and table go (default: next to this page for a run '
                             'with the default settings, else logs/results/)')
    parser.add_argument('--plot', action='store_true',
                        help='redraw the plot and table from the summary in --results, without training')
    args = parser.parse_args(argv)
    for name, (valid, text) in RANGES.items():
        value = getattr(args, name)
        if not (math.isfinite(value) and valid(value)):
            parser.error(f'argument --{name.replace("_", "-")}: invalid value {value}: must be {text}')
    args.results = results_folder(args, parser, ignore=('plot', 'timeout'))
    return args


def main(argv: Optional[List[str]] = None) -> int:
    """Train (or only redraw with `--plot`); a failed or timed-out worker makes the exit code 1."""
    args = parse_args(argv)
    if args.plot:
        write_report(json.loads((args.results / 'a3c_summary.json').read_text()), args.results)
        return 0
    configs = Configs(**{name: getattr(args, name) for name in Configs.__dataclass_fields__ if hasattr(args, name)})
    try:
        summary = train(configs, args.results)
    except (WorkerError, AppUnreachable) as error:
        print(f'a3c: {error}', file=sys.stderr)
        return 1
    print(json.dumps({k: v for k, v in summary.items() if k != 'rows'}, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
