"""LLM gateway: providers behind one interface, budgets, call records."""
