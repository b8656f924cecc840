"""The audit log: who changed what, when and from where, in an append-only,
hash-chained table that ``payreq admin verify-audit`` checks."""
