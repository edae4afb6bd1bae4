"""Botstream benchmarks (issue 7): `make bench` or `python -m bench [name ...]`.

Six benchmarks, each reporting ratios or percentiles measured side by side in one run on
this machine (see docs/BENCHMARKS.md): http, nested, streaming, scaleout, idle, coldstart.
They are not tests: they run outside pytest, every run is bounded in time and stops by
itself, and results go to bench/results/<name>.json (gitignored).
"""
