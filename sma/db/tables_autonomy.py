"""Tables of the autonomy capability (registered on SQLModel.metadata by import)."""
