"""The sans-I/O core of a call: it imports no ``Client``.

The client builds one immutable ``Runtime`` and hands it down; the sync and async shells
drive a ``Call`` through it. See ``routerlib/docs/architecture.md`` for one call step by step.
"""
