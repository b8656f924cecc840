"""Bank statements: reading them (CSV, ISO 20022 camt.053 and camt.054) and reconciling
their lines with bank-transfer payments; resolving the lines that settled nothing."""
