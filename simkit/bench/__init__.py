"""``simkit bench``: benchmark harness, task registry, leaderboard.

Modules: :mod:`~simkit.bench.config` (BenchConfig), :mod:`~simkit.bench.tasks` (task registry),
:mod:`~simkit.bench.harness` (``run_bench``, ``run_demo_bench``), :mod:`~simkit.bench.leaderboard` and
:mod:`~simkit.bench.schema` (the tidy CSV), :mod:`~simkit.bench.plots` (synthetic stand-in datasets for
tests live in :mod:`simkit.data.synthetic`). Imported lazily: ``import simkit.bench`` loads
no torch.
"""
