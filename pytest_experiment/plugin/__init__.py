"""The pytest glue: hooks, options registration, collection, fixtures, hookspecs.

``hooks`` is the entry point pytest loads; every use of pytest's private API
is in ``compat``.
"""
