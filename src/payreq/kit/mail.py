"""Outgoing mail for invitations and password resets, through ``PAYREQ_SMTP_URL``.

``smtp://[user:password@]host[:port]`` uses STARTTLS when the server offers it;
``smtps://...`` speaks TLS from the start. The standard library's ``smtplib`` runs in
a thread, so a slow mail server never blocks the event loop; pages send after their
transaction has committed.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

import structlog

from payreq.kit.jsonbody import displayable

log = structlog.get_logger("payreq.mail")


def mail_text(template: str, /, **names: object) -> str:
    """``template`` (``str.format`` fields) with each name (an account's name, a label,
    an e-mail address) written as the dashboard's pages show it, through the templates'
    ``visible`` filter (``displayable``): a bidi override or a line break stored before
    the display-text rule reaches no reader's mail as itself, nor starts a line of its
    own. The template's own line breaks stay."""
    return template.format(**{key: displayable(value) for key, value in names.items()})


class Mailer:
    def __init__(self, url: str | None, *, sender: str, timeout: float = 10.0) -> None:
        self.url = url
        self.sender = sender
        self.timeout = timeout

    @property
    def configured(self) -> bool:
        return bool(self.url)

    async def send(self, *, to: str, subject: str, body: str) -> bool:
        """True once the server accepted the message; False (logged) if it did not."""
        if not self.url:
            return False
        message = EmailMessage()
        # the subject is one line of names and words: shown as pages show names (a line
        # break in an old account name would otherwise end the header, or raise)
        message["From"], message["To"], message["Subject"] = self.sender, to, displayable(subject)
        message.set_content(body)
        try:
            await asyncio.to_thread(self._send, message)
        except (OSError, smtplib.SMTPException) as exc:
            log.warning(
                "mail_not_sent", to_domain=to.rpartition("@")[2], reason=f"{type(exc).__name__}: {exc}"[:200]
            )
            return False
        return True

    def _send(self, message: EmailMessage) -> None:
        assert self.url is not None
        parts = urlsplit(self.url)
        host = parts.hostname or "localhost"
        if parts.scheme == "smtps":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                host, parts.port or 465, timeout=self.timeout, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(host, parts.port or 25, timeout=self.timeout)
        with client:
            if parts.scheme != "smtps":
                client.ehlo()
                if client.has_extn("starttls"):
                    client.starttls(context=ssl.create_default_context())
                    client.ehlo()
            if parts.username:
                client.login(unquote(parts.username), unquote(parts.password or ""))
            client.send_message(message)
