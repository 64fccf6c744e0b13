"""Tables of the media engine (registered on SQLModel.metadata by import)."""
