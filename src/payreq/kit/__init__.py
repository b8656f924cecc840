"""Helpers used by two or more features. Imports no feature."""
