"""``python -m benchmarks.race``: fastnn against PyTorch, JAX and scikit-learn on the same recipes.

Modules, one job each: :mod:`~benchmarks.race.recipes` (what is trained and on what data),
one module per entrant (``entrant_fastnn``, ``entrant_torch``, ``entrant_jax``,
``entrant_sklearn``) behind the registry in :mod:`~benchmarks.race.entrants`,
:mod:`~benchmarks.race.worker` (one entrant, one recipe, one thread count, in its own
process), :mod:`~benchmarks.race.runner` (starts the workers one after another),
:mod:`~benchmarks.race.summary` and :mod:`~benchmarks.race.render` (numbers and Markdown),
:mod:`~benchmarks.race.chart` (the PNG) and :mod:`~benchmarks.race.cli` (the command).
"""
