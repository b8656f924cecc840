"""Rate limits: a sliding-window log per key, in process memory or in Redis."""
