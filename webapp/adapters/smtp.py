"""Sending one e-mail over SMTP: a text part and, when given, an HTML part (multipart/alternative)."""
from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid


def send(*, host: str, port: int, sender: str, to: str, subject: str, body: str, html: str | None = None,
         reply_to: str | None = None, username: str | None = None, password: str | None = None,
         starttls: bool = False, verify: bool = True, message_id: str | None = None, timeout: float = 15) -> str:
    """STARTTLS checks the server's certificate and name against the system's authorities (Python's
    smtplib does not unless given a context); verify=False is an explicit opt-out (SMTP_VERIFY=0)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    if reply_to:
        msg["Reply-To"] = reply_to
    msg["Message-ID"] = message_id or make_msgid(domain="agencyhq")
    msg.set_content(body)
    if html:
        msg.add_alternative(html, subtype="html")
    with smtplib.SMTP(host, port, timeout=timeout) as smtp:
        if starttls:
            smtp.starttls(context=ssl.create_default_context() if verify else _unverified())
        if username:
            smtp.login(username, password or "")
        smtp.send_message(msg)
    return msg["Message-ID"]


def _unverified() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
