"""
---
title: Tutorials
summary: Short pages that run top to bottom and show how optimizers are used.
---

# Tutorials

* [How an optimizer is used](optimizer_mechanics.html): parameters and param groups,
  `zero_grad`, `backward`, `step`, what the state holds, and `state_dict`.
"""
