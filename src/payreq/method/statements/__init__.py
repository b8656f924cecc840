"""Bank statements: reading them (CSV, ISO 20022 camt.053) and reconciling their
lines with pending bank-transfer payments."""
