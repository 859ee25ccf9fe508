"""Edges: the only modules that talk to the outside world.

The Kubernetes API (client, watch), the results store (S3), GitHub (``gh``) and
the toil tracker (``bd`` or a file). Each wraps the third-party errors it sees
in the project's own types, with the cause chained.
"""
