"""The payer's side: the hosted checkout page behind every ``checkout_url``."""
