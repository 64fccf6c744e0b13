"""Tables of the publishing capability (registered on SQLModel.metadata by import)."""
