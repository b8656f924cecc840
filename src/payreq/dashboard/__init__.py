"""The merchant dashboard: server-rendered pages under ``/dashboard`` (SPEC §7).

Pages are a third face beside the two API contracts: they parse a form, call one
service function (the same the API uses, taking the signed-in user as its actor),
and render. They never reach a repository or the database on their own.

The house (``web``, ``session``, ``nav``, ``routes``, ``templates/base.html``,
``static/``):

- ``session.signed_in(request, Permission.X)`` gives a page its ``Page``: the user
  (``page.actor``: user id, account id, role), the selected environment
  (``page.environment``; the switch in the header changes it), ``page.subject`` for
  the services that take an ``AuthSubject``, ``page.csrf`` for its forms, and the
  navigation. ``session.signed_in_form(request, Permission.X)`` does the same for a
  form post and also checks its CSRF token and origin (403 otherwise, nothing
  changed). A missing session redirects to sign-in; a role without the permission
  gets the 403 page. The services check the role again (``payreq.auth.roles``).
- ``web.html(request, "template.html", page.context(...))`` renders with the strict
  headers; ``web.see_other(request, path)`` answers a form (303, Post/Redirect/Get);
  errors raised anywhere become the error page (``web.render_error``).
- Templates extend ``base.html`` (header, environment switch and sandbox banner,
  navigation, ``main``) and import ``macros.html`` (``field`` with its error beside
  it, ``secret`` with a copy button, ``when``). No inline script or style: put CSS
  in ``static/dashboard.css``.

How a new area plugs in (part 2 adds payments, webhooks, statements, overview, audit):

1. Write ``dashboard/<area>.py`` with its Litestar handlers, a module-level
   ``handlers = [...]`` list, and ``nav.register(NavEntry(path, label, permission,
   order))`` for its entry (orders are listed in ``nav.NavEntry``).
2. Add the module to ``AREAS`` in ``dashboard/routes.py``.
3. Add its templates under ``dashboard/templates/`` and its page tests under
   ``tests/dashboard/`` (fixtures in ``tests/dashboard/conftest.py``: ``signed_in``
   gives an httpx client signed in with a role; ``live`` and ``browser_page`` a real
   server and a signed-in Chromium page; ``shot`` saves a phone-width screenshot), and
   add its pages to the role matrix in ``tests/dashboard/test_roles.py``.
"""
