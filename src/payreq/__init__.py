"""payreq: a self-hostable payment-request gateway."""

__version__ = "0.1.0"
