"""pytest-benchmark suites comparing the numpy and numba backends (the cases: ``cases.py``).

``pytest benchmarks --benchmark-enable`` times them; a plain ``pytest`` runs each case
once as a smoke test. ``python -m benchmarks.report`` turns the JSON into the README table.
"""
