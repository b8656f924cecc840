"""The rules an application's settings must follow. Each check answers the clean value
or raises ``ValidationFailed`` naming the contract-B field (422)."""

from __future__ import annotations

import re
from collections.abc import Callable

import msgspec
from stdnum import bic as stdnum_bic
from stdnum import iban as stdnum_iban

from payreq.application.models import BankDetails, Method
from payreq.errors import ValidationFailed
from payreq.kit import money
from payreq.kit.jsonbody import check_display_text, check_text
from payreq.kit.urls import normalise_url, redirect_url_problem
from payreq.webhook.ssrf import UrlPolicy, check_webhook_url

MIN_EXPIRES_IN = 60
MAX_EXPIRES_IN = 30 * 24 * 3600

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
    _not_too_long(value, "webhookUrl")
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
    _not_too_long(value, param)
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
    found = bank_details_problems(value)
    if found:
        raise next(iter(found.values()))
    iban = _compact(value.iban)
    account = value.account_number.strip() if value.account_number is not None else None
    routing = value.routing_number.replace(" ", "").replace("-", "") if value.routing_number else None
    return BankDetails(
        account_holder=value.account_holder.strip(),
        bank_name=value.bank_name.strip(),
        iban=iban,
        account_number=account,
        bic=_compact(value.bic),
        routing_number=routing,
    )


def bank_details_problems(value: BankDetails) -> dict[str, ValidationFailed]:
    """Every rule the bank details break, by field, in the order a form shows them."""
    found: dict[str, ValidationFailed] = {}

    def check(param: str, rule: Callable[[], None]) -> None:
        try:
            rule()
        except ValidationFailed as exc:
            found[exc.param or param] = exc

    def names_rule() -> None:
        _text(value.account_holder, "bankDetails.accountHolder")

    def bank_rule() -> None:
        _text(value.bank_name, "bankDetails.bankName")

    check("bankDetails.accountHolder", names_rule)
    check("bankDetails.bankName", bank_rule)
    iban = _compact(value.iban)
    account = value.account_number.strip() if value.account_number is not None else None

    def iban_rule() -> None:
        if iban is not None and not stdnum_iban.is_valid(iban):
            raise ValidationFailed(
                "bankDetails.iban is not a valid IBAN (country, check digits, account).",
                code="invalid_iban",
                param="bankDetails.iban",
            )

    def account_rule() -> None:
        if account is not None and not _ACCOUNT_NUMBER.fullmatch(account):
            raise ValidationFailed(
                "bankDetails.accountNumber may hold letters, digits, spaces and dashes (at most 34).",
                param="bankDetails.accountNumber",
            )

    def either_rule() -> None:
        if iban is None and not account:
            raise ValidationFailed(
                "bankDetails needs an iban or an accountNumber.", code="missing_account", param="bankDetails"
            )

    def bic_rule() -> None:
        bic = _compact(value.bic)
        if bic is not None and not stdnum_bic.is_valid(bic):
            raise ValidationFailed(
                "bankDetails.bic must be a BIC of 8 or 11 characters.",
                code="invalid_bic",
                param="bankDetails.bic",
            )

    def routing_rule() -> None:
        routing = value.routing_number.replace(" ", "").replace("-", "") if value.routing_number else None
        if routing is not None and not _ROUTING_NUMBER.fullmatch(routing):
            raise ValidationFailed(
                "bankDetails.routingNumber must be 4 to 12 digits (spaces and dashes are ignored).",
                param="bankDetails.routingNumber",
            )

    for param, rule in (
        ("bankDetails.iban", iban_rule),
        ("bankDetails.accountNumber", account_rule),
        ("bankDetails", either_rule),
        ("bankDetails.bic", bic_rule),
        ("bankDetails.routingNumber", routing_rule),
    ):
        check(param, rule)
    return found


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


def _not_too_long(value: str, param: str, limit: int = 2048) -> None:
    if len(value) > limit:
        raise ValidationFailed(f"{param} must be at most {limit} characters.", param=param)


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


def problems(
    *,
    sandbox: bool,
    name_value: str,
    redirect_url_value: str | None,
    currencies_value: list[str] | None,
    methods_value: list[str],
    bank_details_value: BankDetails | None,
    expires_in_value: int | None,
) -> dict[str, str]:
    """Every rule an application's settings break, by field (``param``), so that a form
    can show each error beside its field at once. The service checks them again. The
    webhook URL is checked apart (``ApplicationService.check_webhook_url``): its name is
    resolved, before any unit of work."""
    checks = (
        lambda: name(name_value),
        lambda: default_redirect_url(redirect_url_value, sandbox=sandbox),
        lambda: currencies(currencies_value),
        lambda: methods(methods_value, sandbox=sandbox),
        lambda: expires_in(expires_in_value),
    )
    found: dict[str, str] = {}
    for check in checks:
        try:
            check()
        except ValidationFailed as exc:
            found.setdefault(exc.param or "form", exc.message)
    if bank_details_value is not None:
        for param, problem in bank_details_problems(bank_details_value).items():
            found.setdefault(param, problem.message)
    if not found:
        try:
            require_bank_details(methods_value, bank_details(bank_details_value))
        except ValidationFailed as exc:
            found[exc.param or "form"] = exc.message
    return found
