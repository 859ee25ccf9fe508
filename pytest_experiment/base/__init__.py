"""Shared vocabulary every layer may import, the sandbox included: the error types, the
JSON object type, the Kubernetes resources and namespaces both sides name, and backoff.

Nothing here imports another part of the package.
"""
