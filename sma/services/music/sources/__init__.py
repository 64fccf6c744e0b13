"""Music tiers of step 6, one module per provider, each behind the `MusicSource` interface."""
