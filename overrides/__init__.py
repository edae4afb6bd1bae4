"""Overrides of library internals, in one place.

Each module replaces or copies part of a library because a measurement (or an outage)
showed the stock behaviour costs too much; its docstring says why, with the figure, and
the upstream version it was written against. tests/overrides/ pins the upstream code
each one relies on, so an upgrade that changes it fails a test instead of silently
changing behaviour.

This package imports libraries only, so any layer may use it: `server` (settings name
the middlewares and channel layers, the websocket consumer and its handlers) and
`schema` (validation, subscription frame plans).
"""
