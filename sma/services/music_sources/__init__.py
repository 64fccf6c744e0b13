"""Music tiers of step 6, one module per provider; the chain and the fitting live in sma.services.media.music."""
