"""Task queue names: the one place that defines them (DESIGN.md convention 5)."""

WORKFLOWS = "sma-workflows"
CPU = "sma-cpu"
GPU = "sma-gpu"

ALL = (WORKFLOWS, CPU, GPU)
