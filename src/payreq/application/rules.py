"""The rules an application's settings must follow. Each check answers the clean value
or raises ``ValidationFailed`` naming the contract-B field (422)."""

from __future__ import annotations

import re

import msgspec

from payreq.application.models import BankDetails, Method
from payreq.errors import ValidationFailed
from payreq.kit import money
from payreq.kit.jsonbody import check_display_text, check_text
from payreq.kit.urls import normalise_url, redirect_url_problem
from payreq.webhook.ssrf import UrlPolicy, check_webhook_url

MIN_EXPIRES_IN = 60
MAX_EXPIRES_IN = 30 * 24 * 3600

_IBAN = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}")
_BIC = re.compile(r"[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}(?:[A-Z0-9]{3})?")
_ACCOUNT_NUMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9 -]{0,32}[A-Za-z0-9]|[A-Za-z0-9]")
_ROUTING_NUMBER = re.compile(r"[0-9]{4,12}")


def name(value: str) -> str:
    clean = value.strip()
    check_display_text(clean, "name")  # the checkout shows it to payers
    if not 1 <= len(clean) <= 200:
        raise ValidationFailed("name must be 1 to 200 characters, not only spaces.", param="name")
    return clean


async def webhook_url(value: str | None, *, policy: UrlPolicy) -> str | None:
    """Where events are delivered: https resolving only to public addresses, or to the
    networks the operator allows (``PAYREQ_WEBHOOK_ALLOW_PRIVATE``), in every
    environment, as ``payreq.webhook.ssrf`` checks again before every attempt. The name
    is resolved here, asynchronously: call this before any unit of work opens."""
    if value is None:
        return None
    check_text(value, "webhookUrl")
    problem = await check_webhook_url(value, policy=policy)
    if problem:
        raise ValidationFailed(f"webhookUrl {problem}.", code="invalid_url", param="webhookUrl")
    return value


def default_redirect_url(value: str | None, *, sandbox: bool) -> str | None:
    return _url(value, "defaultRedirectUrl", sandbox=sandbox)


def _url(value: str | None, param: str, *, sandbox: bool) -> str | None:
    if value is None:
        return None
    check_text(value, param)
    problem = redirect_url_problem(value, sandbox=sandbox)
    if problem:
        raise ValidationFailed(f"{param} {problem}.", code="invalid_url", param=param)
    return normalise_url(value)


def currencies(values: list[str] | None) -> list[str] | None:
    """Upper-case, de-duplicated ISO 4217 codes; None (not an empty list) accepts all."""
    if values is None:
        return None
    if not values:
        raise ValidationFailed(
            "currencies must name at least one currency; send null to accept every currency.",
            param="currencies",
        )
    codes: list[str] = []
    for value in values:
        code = money.normalise_currency(value)
        if code is None:
            raise ValidationFailed(
                f"currencies: {value!r} is not an active ISO 4217 currency code.",
                code="unsupported_currency",
                param="currencies",
            )
        if code not in codes:
            codes.append(code)
    return codes


def methods(values: list[str], *, sandbox: bool) -> list[str]:
    """Names of installed payment methods (built-ins and plug-ins) valid in this environment."""
    from payreq.method.registry import default_registry

    registry = default_registry()
    environment = "sandbox" if sandbox else "production"
    chosen: list[str] = []
    for value in values:
        method = registry.get(value)
        if method is None:
            raise ValidationFailed(
                f"methods: {value!r} is not a payment method; use {' or '.join(registry.names())}.",
                code="unknown_method",
                param="methods",
            )
        if environment not in method.environments:
            raise ValidationFailed(
                f"methods: {value} is offered only in the {' and '.join(sorted(method.environments))} environment.",
                code="unknown_method",
                param="methods",
            )
        if value not in chosen:
            chosen.append(value)
    if not chosen:
        raise ValidationFailed("methods must name at least one payment method.", param="methods")
    return chosen


def default_methods(*, sandbox: bool) -> list[str]:
    return [Method.SANDBOX.value] if sandbox else [Method.BANK_TRANSFER.value]


def bank_details(value: BankDetails | None) -> BankDetails | None:
    """Names present, an IBAN or an account number, well-formed codes (IBAN checksum)."""
    if value is None:
        return None
    holder = _text(value.account_holder, "bankDetails.accountHolder")
    bank = _text(value.bank_name, "bankDetails.bankName")
    iban = _compact(value.iban)
    if iban is not None and not (_IBAN.fullmatch(iban) and _iban_checksum_ok(iban)):
        raise ValidationFailed(
            "bankDetails.iban is not a valid IBAN (country, check digits, account).",
            code="invalid_iban",
            param="bankDetails.iban",
        )
    account = value.account_number.strip() if value.account_number is not None else None
    if account is not None and not _ACCOUNT_NUMBER.fullmatch(account):
        raise ValidationFailed(
            "bankDetails.accountNumber may hold letters, digits, spaces and dashes (at most 34).",
            param="bankDetails.accountNumber",
        )
    if iban is None and not account:
        raise ValidationFailed(
            "bankDetails needs an iban or an accountNumber.", code="missing_account", param="bankDetails"
        )
    bic = _compact(value.bic)
    if bic is not None and not _BIC.fullmatch(bic):
        raise ValidationFailed(
            "bankDetails.bic must be a BIC of 8 or 11 characters.",
            code="invalid_bic",
            param="bankDetails.bic",
        )
    routing = value.routing_number.replace(" ", "").replace("-", "") if value.routing_number else None
    if routing is not None and not _ROUTING_NUMBER.fullmatch(routing):
        raise ValidationFailed(
            "bankDetails.routingNumber must be 4 to 12 digits (spaces and dashes are ignored).",
            param="bankDetails.routingNumber",
        )
    return BankDetails(
        account_holder=holder,
        bank_name=bank,
        iban=iban,
        account_number=account,
        bic=bic,
        routing_number=routing,
    )


def require_bank_details(chosen_methods: list[str], details: BankDetails | None) -> None:
    """An application that offers bank transfers must say where the money goes."""
    if Method.BANK_TRANSFER in chosen_methods and details is None:
        raise ValidationFailed(
            "bankDetails is required while methods include bank_transfer.",
            code="missing_bank_details",
            param="bankDetails",
        )


def expires_in(value: int | None) -> int | None:
    if value is not None and not MIN_EXPIRES_IN <= value <= MAX_EXPIRES_IN:
        raise ValidationFailed(
            f"defaultExpiresIn must be between {MIN_EXPIRES_IN} and {MAX_EXPIRES_IN} seconds.",
            param="defaultExpiresIn",
        )
    return value


def encode(value: object) -> str | None:
    """A JSON column's text (None stays NULL)."""
    return None if value is None else msgspec.json.encode(value).decode()


def _text(value: str, param: str) -> str:
    clean = value.strip()
    check_display_text(clean, param)  # bank details are shown to payers
    if not clean:
        raise ValidationFailed(f"{param} must not be blank.", param=param)
    return clean


def _compact(value: str | None) -> str | None:
    return None if value is None else value.replace(" ", "").upper()


def _iban_checksum_ok(iban: str) -> bool:
    """ISO 13616: move the first four characters to the end, letters to numbers, mod 97 == 1."""
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1
