"""Form fields <-> the API's bodies for applications and client tokens, so that a page
and the API hand the services the very same structures."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from payreq.application.models import Application, BankDetails
from payreq.application.schemas import ApplicationCreate, ApplicationUpdate, TokenCreate
from payreq.dashboard.web import Form
from payreq.errors import ValidationFailed
from payreq.kit.jsonbody import REPLACEMENT, displayable
from payreq.method.bank_transfer import print_iban

BANK_FIELDS = {
    "bankDetails.accountHolder": "account_holder",
    "bankDetails.bankName": "bank_name",
    "bankDetails.iban": "iban",
    "bankDetails.accountNumber": "account_number",
    "bankDetails.bic": "bic",
    "bankDetails.routingNumber": "routing_number",
}


def _optional(form: Form, name: str) -> str | None:
    value = form.get(name).strip()
    return value or None


def _currencies(form: Form) -> list[str] | None:
    raw = form.get("currencies").replace(";", ",").replace(" ", ",")
    codes = [c for c in raw.split(",") if c]
    return codes or None


def _bank(form: Form) -> BankDetails | None:
    values = {attr: form.get(name).strip() for name, attr in BANK_FIELDS.items()}
    if not any(values.values()):
        return None
    return BankDetails(
        account_holder=values["account_holder"],
        bank_name=values["bank_name"],
        iban=values["iban"] or None,
        account_number=values["account_number"] or None,
        bic=values["bic"] or None,
        routing_number=values["routing_number"] or None,
    )


def _expires_in(form: Form) -> int | None:
    raw = form.get("defaultExpiresIn").strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 9:
        raise ValidationFailed("Enter a whole number of seconds.", param="defaultExpiresIn")
    return int(raw)


def application_fields(form: Form) -> dict[str, Any]:
    """The form's application settings, as ``ApplicationCreate`` takes them."""
    return {
        "name": form.get("name"),
        "webhook_url": _optional(form, "webhookUrl"),
        "default_redirect_url": _optional(form, "defaultRedirectUrl"),
        "currencies": _currencies(form),
        "methods": form.getall("methods"),
        "bank_details": _bank(form),
        "default_expires_in": _expires_in(form),
    }


def application_create(fields: dict[str, Any]) -> ApplicationCreate:
    return ApplicationCreate(**fields)


def application_update(fields: dict[str, Any]) -> ApplicationUpdate:
    """The edit form sends every field: each is set (a blank optional one is cleared)."""
    return ApplicationUpdate(**fields)


def form_values(form: Form) -> dict[str, Any]:
    """What the user typed, to fill the form again beside its errors."""
    values: dict[str, Any] = {name: form.get(name) for name in ("name", "webhookUrl", "defaultRedirectUrl")}
    values.update({name: form.get(name) for name in ("currencies", "defaultExpiresIn", *BANK_FIELDS)})
    values["methods"] = form.getall("methods")
    return values


def application_values(app: Application) -> dict[str, Any]:
    """The stored settings, to fill the edit form: each text as the pages show it
    (``displayable``), so a name stored before the display-text rule shows U+FFFD for
    its hidden characters, never the characters themselves (``kept_replacements``
    refuses to save such a value as it reads)."""
    return {
        name: displayable(value) if isinstance(value, str) else value
        for name, value in _stored_values(app).items()
    }


UNSHOWABLE_KEPT = (
    f"The saved value holds characters that cannot be shown (marked {REPLACEMENT} here). "
    f"Retype it without them."
)


def kept_replacements(form: Form, app: Application) -> dict[str, str]:
    """An error beside each field whose stored value holds characters the form shows
    as U+FFFD and whose submitted value still has one: saving it as it reads would
    silently put U+FFFD in place of what was stored. A U+FFFD typed into a field whose
    stored value is clean is the user's own text, as the API takes it."""
    return {
        name: UNSHOWABLE_KEPT
        for name, value in _stored_values(app).items()
        if isinstance(value, str) and displayable(value) != value and REPLACEMENT in form.get(name)
    }


def _stored_values(app: Application) -> dict[str, Any]:
    bank = app.bank_details
    values: dict[str, Any] = {
        "name": app.name,
        "webhookUrl": app.webhook_url or "",
        "defaultRedirectUrl": app.default_redirect_url or "",
        "currencies": ", ".join(app.currencies or []),
        "defaultExpiresIn": str(app.default_expires_in or ""),
        "methods": app.methods,
    }
    for name, attr in BANK_FIELDS.items():
        values[name] = (getattr(bank, attr) or "") if bank else ""
    if bank and bank.iban:
        values["bankDetails.iban"] = print_iban(bank.iban)  # read back in groups of four
    return values


def token_create(form: Form) -> TokenCreate:
    """The "Create API Access Token" dialog: label, optional expiration date (the end
    of that day, UTC), scopes."""
    raw = form.get("expires_on").strip()
    expires_at = None
    if raw:
        try:
            day = datetime.strptime(raw, "%Y-%m-%d").date()
        except ValueError:
            raise ValidationFailed("Enter a date such as 2030-01-31.", param="expiresAt") from None
        expires_at = datetime.combine(day, time(23, 59, 59), tzinfo=UTC)
    scopes = form.getall("scopes")
    if not scopes:
        raise ValidationFailed("Choose at least one scope.", param="scopes")
    return TokenCreate(label=form.get("label"), scopes=scopes, expires_at=expires_at)
