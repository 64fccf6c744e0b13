"""Where artifact bytes live besides this host's disk: an S3-compatible bucket shared by every worker."""
