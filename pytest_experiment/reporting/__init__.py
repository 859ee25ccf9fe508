"""Reporting: the scorecard (``report``), the terminal summary (``terminal``), the
JSON report, the step summary, the HTML scorecard (``html_*``) and the session's
files (``files``).

Built from test reports and the JSON document, never from a worker's private
state, so a run under pytest-xdist reports what a serial run does.
"""
