"""Edges: the only modules that talk to the outside world.

The Kubernetes API (``kubeconfig`` picks the cluster; ``session`` makes the
requests, with retries, and ``api_errors`` says what the API answered in the
project's terms; ``operator_reads`` and ``cluster`` are the reads and writes the
run makes; ``watch`` follows Experiments), the results store (S3), GitHub
(``gh``) and the toil tracker (``bd`` or a file). Each wraps the third-party
errors it sees in the project's own types, with the cause chained; ``outages``
says once when a service stops answering and once when it is back.
"""
