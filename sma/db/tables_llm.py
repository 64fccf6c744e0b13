"""Tables of the llm capability (registered on SQLModel.metadata by import)."""
