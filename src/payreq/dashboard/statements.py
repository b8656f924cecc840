"""Statements (every role reads; developers and up import and resolve): upload a bank
statement, read each line's outcome, resolve late, partial and overpaid lines.

- ``GET  /dashboard/statements``: the upload form and every import, newest first, a
  page at a time (``?cursor=`` older than that import, ``?before=`` newer: in the URL,
  so a page can be bookmarked), through the service that ``GET /api/statements`` lists;
- ``POST /dashboard/statements``: a multipart form with the file (CSV, camt.053 or
  camt.054, up to the API's 10 MiB); a small file is imported at once, a larger one
  in the background (``StatementService.run_in_background``), and either way the
  browser goes to the import's page;
- ``GET  /dashboard/statements/{id}``: the summary, the progress of a running import
  (lines done of the line count, as a ``<progress>`` bar), and every line's outcome a
  page at a time (``?cursor=``), each matched payment linked, each resolved line with
  who resolved it in words (``AuditService.names``: one query per kind of actor). While the import runs the
  page refreshes itself until it is finished or failed: without JavaScript by a
  ``<meta http-equiv="refresh">`` (inside ``<noscript>``), with it by dashboard.js,
  which fetches the page again and swaps its ``data-live`` parts in place (no reload,
  and a screen reader hears the end);
- ``POST /dashboard/statements/{id}/lines/{line}/resolve``: ``action`` accept or
  refund_due, through ``StatementService.resolve`` as the API's.

The service checks the role again (``read`` to look, ``develop`` to change).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.params import FromPath

from payreq.audit.models import Actor
from payreq.auth.roles import Permission
from payreq.dashboard.nav import NavEntry, register
from payreq.dashboard.session import Page, signed_in, signed_in_form, signed_in_upload
from payreq.dashboard.web import html, see_other, services_of
from payreq.errors import PayreqError, ValidationFailed
from payreq.method.routes import MAX_STATEMENT_BYTES
from payreq.method.statements.importer import read
from payreq.method.statements.service import RESOLVABLE

register(NavEntry("/dashboard/statements", "Statements", Permission.READ, 40))

BACKGROUND_BYTES = 256 * 1024
"""Files larger than this are imported in the background; the page shows progress."""
FORMATS = ("csv", "camt.053", "camt.054")
LINES_PER_PAGE = 100
IMPORTS_PER_PAGE = 25
INDEX = "/dashboard/statements"
REFRESH_SECONDS = 2
"""How often the page of a running import reloads itself (or, with the script, its figures)."""
FORM_SLACK = 64 * 1024
"""Room for the multipart envelope and the other fields beside the file."""


async def _index(
    request: Request[Any, Any, Any], page: Page, *, status: int = 200, **extra: Any
) -> Response[str]:
    services = services_of(request)
    notices = []
    async with services.db.read() as conn:
        try:
            listing = await services.methods.statements.imports(
                conn,
                page.subject,
                cursor=request.query_params.get("cursor") or None,
                before=request.query_params.get("before") or None,
                limit=IMPORTS_PER_PAGE,
            )
        except ValidationFailed:  # a cursor of another account, environment, or none at all
            notices.append("That page of imports is not in this environment; here are the newest.")
            listing = await services.methods.statements.imports(conn, page.subject, limit=IMPORTS_PER_PAGE)
            status = max(status, 422)
    context = page.context(
        listing=listing,
        older_url=f"{INDEX}?{urlencode({'cursor': listing.next_cursor})}" if listing.next_cursor else None,
        newer_url=f"{INDEX}?{urlencode({'before': listing.newer_cursor})}" if listing.newer_cursor else None,
        formats=FORMATS,
        may_change=page.may(Permission.DEVELOP),
        errors=extra.pop("errors", {}),
        max_mib=MAX_STATEMENT_BYTES // (1024 * 1024),
        notices=notices,
        **extra,
    )
    return html(request, "statements.html", context, status=status)


@get("/statements", include_in_schema=False)
async def statements(request: Request[Any, Any, Any]) -> Response[str]:
    page = await signed_in(request, Permission.READ)
    return await _index(request, page)


@post(
    "/statements",
    include_in_schema=False,
    status_code=303,
    request_max_body_size=MAX_STATEMENT_BYTES + FORM_SLACK,
)
async def upload(request: Request[Any, Any, Any]) -> Response[Any]:
    page, form, file = await signed_in_upload(request, Permission.DEVELOP, "file")
    services = services_of(request)
    chosen = form.get("format").strip()
    try:
        if chosen and chosen not in FORMATS:
            raise ValidationFailed("Choose CSV, camt.053 or camt.054.", param="format")
        if file is None:
            raise ValidationFailed("Choose a statement file.", param="file")
        if len(file.data) > MAX_STATEMENT_BYTES:
            raise ValidationFailed(
                "The file is larger than 10 MiB; split it into smaller files.", param="file"
            )
        statement = read(file.data, format=chosen or None, media_type=None)
        service = services.methods.statements
        if len(file.data) > BACKGROUND_BYTES:
            report = await service.run_in_background(
                services.db, page.subject, statement, source="dashboard", filename=file.filename
            )
        else:
            report = await service.run(
                services.db, page.subject, statement, source="dashboard", filename=file.filename, limit=1
            )
    except PayreqError as exc:
        if exc.status != 422:
            raise
        return await _index(request, page, status=422, errors={"file": exc.message}, chosen=chosen)
    return see_other(request, f"/dashboard/statements/{report.id}")


async def _report(
    request: Request[Any, Any, Any], page: Page, import_id: str, *, status: int = 200, **extra: Any
) -> Response[str]:
    services = services_of(request)
    cursor = request.query_params.get("cursor") or None
    async with services.db.read() as conn:
        report = await services.methods.statements.report(
            conn, page.subject, import_id, cursor=cursor, limit=LINES_PER_PAGE
        )
        resolvers = await services.audit.names(
            conn, page.subject.tenant.account_id, (line.resolved_by for line in report.lines)
        )
    context = page.context(
        report=report,
        resolvable=RESOLVABLE,
        resolvers=resolvers,
        may_change=page.may(Permission.DEVELOP),
        here=f"/dashboard/statements/{report.id}" + (f"?cursor={cursor}" if cursor else ""),
        refresh_seconds=REFRESH_SECONDS if report.status == "running" else None,
        request_cursor=cursor if cursor and cursor.isdigit() else None,
        next_url=(
            f"/dashboard/statements/{report.id}?cursor={report.next_cursor}#lines-heading"
            if report.next_cursor
            else None
        ),
        **extra,
    )
    return html(request, "statement.html", context, status=status)


@get("/statements/{import_id:str}", include_in_schema=False)
async def statement(request: Request[Any, Any, Any], import_id: FromPath[str]) -> Response[str]:
    page = await signed_in(request, Permission.READ)
    notices = []
    resolved = request.query_params.get("resolved", "")
    if resolved.isdigit():
        notices.append(f"Line {resolved} is resolved.")
    return await _report(request, page, import_id, notices=notices)


@post("/statements/{import_id:str}/lines/{line:int}/resolve", include_in_schema=False, status_code=303)
async def resolve(
    request: Request[Any, Any, Any], import_id: FromPath[str], line: FromPath[int]
) -> Response[Any]:
    page, form = await signed_in_form(request, Permission.DEVELOP)
    services = services_of(request)
    try:
        async with services.db.transaction() as conn:
            await services.methods.statements.resolve(
                conn,
                page.subject,
                import_id=import_id,
                line=line,
                action=form.get("action"),
                actor=Actor.of(page.subject),
            )
    except PayreqError as exc:
        if exc.status not in (409, 422):
            raise
        # already_resolved names who in words a person reads, from this account only
        return await _report(request, page, import_id, status=exc.status, notices=[exc.message])
    back = form.get("cursor")
    cursor = f"cursor={back}&" if back.isdigit() else ""
    return see_other(request, f"/dashboard/statements/{import_id}?{cursor}resolved={line}#line-{line}")


handlers = [statements, upload, statement, resolve]
