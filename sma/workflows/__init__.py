"""Temporal workflows only (deterministic); sma.worker lists the classes the sma-workflows worker registers."""
