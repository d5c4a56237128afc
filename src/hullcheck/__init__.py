"""hullcheck: container supply-chain security in one tool."""

__version__ = "0.1.0"
