"""Shared vocabulary every layer may import, the sandbox included: the error types.

Nothing here imports another part of the package.
"""
