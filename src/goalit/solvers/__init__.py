"""Algorithms that choose a profile for a static game, behind one registry (``goalit.solvers.registry``)."""
