"""Sending one e-mail over SMTP."""
from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import make_msgid


def send(*, host: str, port: int, sender: str, to: str, subject: str, body: str,
         username: str | None = None, password: str | None = None, starttls: bool = False,
         message_id: str | None = None, timeout: float = 15) -> str:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = message_id or make_msgid(domain="agencyhq")
    msg.set_content(body)
    with smtplib.SMTP(host, port, timeout=timeout) as smtp:
        if starttls:
            smtp.starttls()
        if username:
            smtp.login(username, password or "")
        smtp.send_message(msg)
    return msg["Message-ID"]
