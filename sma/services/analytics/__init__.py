"""Analytics: metrics at checkpoints after publishing, engagement rate and viral score, `sma stats`."""
