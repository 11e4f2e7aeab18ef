"""pytest puts this folder on sys.path, so test modules import the helper modules by name:
``goalit_strategies`` (Hypothesis strategies for small scenarios), ``goalit_oracles`` (independent
reference costs, potential and brute-force equilibria) and ``goalit_process`` (the real CLI process)."""
