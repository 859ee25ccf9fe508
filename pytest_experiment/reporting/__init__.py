"""Reporting: the scorecard, the JSON report, the step summary, progress lines, HTML.

Built from test reports and the JSON document, never from a worker's private
state, so a run under pytest-xdist reports what a serial run does.
"""
