"""The dashboard overview: the figures on its first page, each one indexed query."""
