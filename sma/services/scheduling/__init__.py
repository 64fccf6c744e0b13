"""The content calendar: topic picking and posting-slot optimisation."""
