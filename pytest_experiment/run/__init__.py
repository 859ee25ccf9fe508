"""The live run: pre-flight, apply, follow, clean up, publish and review.

It drives the edges and asks the core what each observation means. It knows
nothing of pytest: the plugin layer hands it options and reads its outcomes.
"""
