"""The pytest glue: ``hooks`` (the entry point pytest loads; hooks only) calls
``options``, ``collect`` (collector) and ``items`` (the items; ``outcome`` turns a
verdict into a pytest outcome), ``listener`` (reports into the scoreboard),
``xdist`` (workers and controller), ``progress`` (terminal lines while waiting),
``interrupt`` (SIGTERM), ``markers``, ``fixtures`` and ``hookspecs``. Every use of
pytest's private API is in ``compat``.
"""
