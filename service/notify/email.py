"""E-mail over SMTP (plain text, UTF-8), with optional STARTTLS and login."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from flask import current_app

from .webhooks import SendFailed


def send_mail(recipients: tuple[str, ...], subject: str, text: str) -> str | None:
    """Send one message to every recipient; raise SendFailed if the server refuses it.

    Returns a note when the server took it for some recipients and refused others:
    the message counts as sent (a retry would give the others a second copy).
    """
    config = current_app.config
    sender = str(config["SMTP_FROM"])
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(localtime=False)
    domain = parseaddr(sender)[1].rpartition("@")[2] or None
    message["Message-ID"] = make_msgid(domain=domain)
    # Tells mail systems (and out-of-office replies) that no person sent this.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    host, port = str(config["SMTP_HOST"]), int(config["SMTP_PORT"])
    try:
        with smtplib.SMTP(host, port, timeout=float(config["NOTIFY_TIMEOUT"])) as smtp:
            if config["SMTP_STARTTLS"]:
                smtp.starttls(context=ssl.create_default_context())
            if config.get("SMTP_USER"):
                smtp.login(str(config["SMTP_USER"]), str(config.get("SMTP_PASSWORD") or ""))
            refused = smtp.send_message(message, to_addrs=list(recipients))
    except smtplib.SMTPAuthenticationError as error:
        raise SendFailed(f"SMTP login refused: {error.smtp_code}") from None
    except smtplib.SMTPResponseException as error:
        detail = error.smtp_error.decode("utf-8", "replace")[:120]
        raise SendFailed(f"SMTP {error.smtp_code}: {detail}") from None
    except smtplib.SMTPRecipientsRefused as error:
        raise SendFailed(f"SMTP refused every recipient ({len(error.recipients)})") from None
    except (smtplib.SMTPException, ssl.SSLError) as error:
        raise SendFailed(f"SMTP failed: {type(error).__name__}: {error}") from None
    except TimeoutError:
        raise SendFailed(f"SMTP server {host}:{port} did not answer in time") from None
    except OSError as error:
        raise SendFailed(f"SMTP server {host}:{port} unreachable: {error.strerror}") from None
    if refused:
        return f"SMTP refused {len(refused)} of {len(recipients)} recipients: " + ", ".join(
            sorted(refused)
        )
    return None
