"""The package version, in one place below every layer (the facade, the CLI and reports read it here).

Keep equal to ``project.version`` in pyproject.toml (tests/test_surface.py checks it).
"""

__version__ = "0.1.0"
