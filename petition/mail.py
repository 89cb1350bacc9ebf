"""Mail: templates rendered in the signer's language, and the backends that deliver them.

Each mail is a template triplet under templates/email/<name>/: subject.txt, body.txt, body.html.
The backend is chosen by settings: SMTP through aiosmtplib, or .eml files for a first try.
"""

from __future__ import annotations

import binascii
import json
import logging
import re
import secrets
import sys
import unicodedata
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.errors import HeaderParseError
from email.header import Header
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from typing import Any, Protocol

import aiosmtplib
from babel.support import NullTranslations
from jinja2 import Environment

from petition import i18n
from petition.settings import Settings

log = logging.getLogger(__name__)
_LINK = re.compile(r"https?://\S+")
# Control characters, line and paragraph separators: none may reach a header.
_BREAKING = frozenset({"Cc", "Zl", "Zp"})
_DATETIME = "$datetime"  # the one key of the JSON object a datetime is stored as


@dataclass(frozen=True, slots=True)
class RenderedMail:
    subject: str
    text: str
    html: str


@dataclass(frozen=True, slots=True)
class Attachment:
    name: str
    content: bytes
    mime: str = "application/pdf"


class TemporaryMailError(Exception):
    """Delivery failed for now (server down, 4xx, timeout): try again later."""


class PermanentMailError(Exception):
    """The server refused this mail for good (5xx about the recipient or the content)."""


def render(
    env: Environment,
    catalogs: Mapping[str, NullTranslations],
    name: str,
    locale: str,
    context: Mapping[str, Any],
) -> RenderedMail:
    with i18n.using(catalogs, locale):
        values = {**context, "locale": locale}
        subject = " ".join(env.get_template(f"email/{name}/subject.txt").render(values).split())
        return RenderedMail(
            subject=subject,
            text=env.get_template(f"email/{name}/body.txt").render(values),
            # The HTML part is a document: its <title> is the subject (email/_layout.html).
            html=env.get_template(f"email/{name}/body.html").render({**values, "subject": subject}),
        )


# A mail by name, language and values: a Renderer, or one that keeps shapes (mail_shapes).
Render = Callable[[str, str, Mapping[str, Any]], RenderedMail]


@dataclass(frozen=True, slots=True)
class Renderer:
    """Renders a mail by name in a language, with the site's time zone: pages and sender alike."""

    env: Environment
    catalogs: Mapping[str, NullTranslations]
    timezone: str

    def __call__(self, name: str, locale: str, context: Mapping[str, Any]) -> RenderedMail:
        return render(self.env, self.catalogs, name, locale, {**context, "tz": self.timezone})


def encode_context(context: Mapping[str, object]) -> str:
    """A mail's values as JSON, to render it later: str, int, None and aware datetimes."""
    return json.dumps(dict(context), default=_encode_value, ensure_ascii=False)


def decode_context(stored: str) -> dict[str, object]:
    """The values `encode_context` stored, datetimes aware again."""
    context = json.loads(stored, object_hook=_decode_object)
    if not isinstance(context, dict):
        raise TypeError("a mail's context is a JSON object")
    return context


def _encode_value(value: object) -> object:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("a naive datetime in a mail's context")
        return {_DATETIME: value.isoformat()}
    raise TypeError(f"no {type(value).__name__} in a mail's context")


def _decode_object(value: dict[str, Any]) -> object:
    # Values are scalars: an object is a datetime, and only one with this single key is.
    if value.keys() == {_DATETIME}:
        return datetime.fromisoformat(value[_DATETIME])
    return value


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A mail as it leaves: the envelope and the message, written out (bytes) or, for the rare
    mail the email library writes (an attachment, an address beyond ASCII), as it built it."""

    envelope_from: str  # the bare address of From
    to: str
    content: bytes | EmailMessage

    def as_bytes(self) -> bytes:
        content = self.content
        return content if isinstance(content, bytes) else bytes(content)


def compose(
    sender: str,
    to: str,
    mail: RenderedMail,
    *,
    date: datetime,
    attachment: Attachment | None = None,
    unsubscribe: str | None = None,
) -> Outgoing:
    """The mail as it leaves; raises PermanentMailError if it cannot be written at all.

    The common mail (ASCII addresses, text and HTML, no attachment) is written directly: the
    email library takes about a millisecond of CPU to build and flatten one, more than the
    signing it answers. Anything else is built by the library (`build_message`).
    """
    try:
        sender, to = _address(sender), _address(to)
    except ValueError as exc:
        raise PermanentMailError(
            f"cannot write the message's headers: {type(exc).__name__}"
        ) from exc
    envelope_from = parseaddr(sender)[1] or sender
    if attachment is not None or not (sender.isascii() and to.isascii()):
        # An address beyond ASCII needs SMTPUTF8, which aiosmtplib's send_message negotiates.
        return Outgoing(
            envelope_from,
            to,
            build_message(
                sender, to, mail, date=date, attachment=attachment, unsubscribe=unsubscribe
            ),
        )
    boundary = f"=_{secrets.token_hex(16)}"  # "=_" never occurs in quoted-printable text
    subject = Header(header_text(mail.subject), "utf-8", header_name="Subject").encode()
    head = (
        f"From: {sender}\n"
        f"To: {to}\n"
        f"Subject: {subject}\n"
        f"Date: {format_datetime(date.astimezone(UTC))}\n"
        f"Message-ID: {_message_id(sender)}\n"
        # Automatic mail: ask vacation responders not to answer.
        "Auto-Submitted: auto-generated\n"
        f"{_list_headers(unsubscribe)}"
        "MIME-Version: 1.0\n"
        f'Content-Type: multipart/alternative; boundary="{boundary}"\n'
        "\n"
    )
    parts = [head.encode("ascii")]
    for subtype, content in (("plain", mail.text), ("html", mail.html)):
        parts.append(
            f"--{boundary}\n"
            f'Content-Type: text/{subtype}; charset="utf-8"\n'
            "Content-Transfer-Encoding: quoted-printable\n\n".encode("ascii")
        )
        body = content.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
        parts.append(binascii.b2a_qp(body, istext=True) + b"\n")
    parts.append(f"--{boundary}--\n".encode("ascii"))
    return Outgoing(envelope_from, to, b"".join(parts))


# RFC 8058: the body a mail client POSTs to the List-Unsubscribe URL to unsubscribe at once.
ONE_CLICK = "List-Unsubscribe=One-Click"


def _unsubscribe_url(url: str) -> str:
    # Our own https link, with a token of URL-safe characters: anything else is not ours.
    if not url.isascii() or any(c in url for c in "<>\r\n \t"):
        raise PermanentMailError("cannot write the message's headers: unsubscribe link")
    return url


def _list_headers(unsubscribe: str | None) -> str:
    """A mail to a list (a campaign's news): one-click unsubscribe, as RFC 8058 writes it."""
    if unsubscribe is None:
        return ""
    return (
        f"List-Unsubscribe: <{_unsubscribe_url(unsubscribe)}>\nList-Unsubscribe-Post: {ONE_CLICK}\n"
    )


def _unwritable(exc: Exception) -> PermanentMailError:
    # Never a reason to stop the sender: this one mail is refused, the others leave.
    return PermanentMailError(f"cannot write the message's headers: {type(exc).__name__}")


def _message_id(sender: str) -> str:
    return make_msgid(domain=parseaddr(sender)[1].rpartition("@")[2] or "localhost")


def build_message(
    sender: str,
    to: str,
    mail: RenderedMail,
    *,
    date: datetime,
    attachment: Attachment | None = None,
    unsubscribe: str | None = None,
) -> EmailMessage:
    """The message built by the email library; raises PermanentMailError if it cannot be."""
    message = EmailMessage()
    try:
        message["From"] = _address(sender)
        message["To"] = _address(to)
        message["Subject"] = header_text(mail.subject)
    except (ValueError, HeaderParseError) as exc:
        raise _unwritable(exc) from exc
    message["Date"] = format_datetime(date.astimezone(UTC))
    message["Message-ID"] = _message_id(sender)
    # Automatic mail: ask vacation responders not to answer.
    message["Auto-Submitted"] = "auto-generated"
    if unsubscribe is not None:
        message["List-Unsubscribe"] = f"<{_unsubscribe_url(unsubscribe)}>"
        message["List-Unsubscribe-Post"] = ONE_CLICK
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    if attachment is not None:
        maintype, _, subtype = attachment.mime.partition("/")
        message.add_attachment(
            attachment.content, maintype=maintype, subtype=subtype, filename=attachment.name
        )
    return message


def header_text(value: str) -> str:
    """Text that stays on its header line and says what it says.

    Line breaks and other control characters become spaces. An encoded word (`=?utf-8?q?…?=`)
    in the text would be decoded by the email library before being written out, and could
    carry a line break, hence a header of its own: a word joiner (U+2060) after `=` keeps it
    plain text, which the library then encodes itself.
    """
    flat = "".join(" " if _breaks(char) else char for char in value)
    return " ".join(flat.split()).replace("=?", "=\u2060?")


def _address(value: str) -> str:
    """An address header's value, as it is, or ValueError: an address is never rewritten."""
    if "=?" in value or any(_breaks(char) for char in value):
        raise ValueError("an address with line breaks, control characters or an encoded word")
    return value


def _breaks(char: str) -> bool:
    return unicodedata.category(char) in _BREAKING


class Connection(Protocol):
    async def send(self, mail: Outgoing) -> None: ...


class Backend(Protocol):
    def connect(self) -> AbstractAsyncContextManager[Connection]: ...


class SmtpBackend:
    """Delivers through an SMTP server; one connection serves a whole batch."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[Connection]:
        s = self._settings
        client = aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port or {"none": 25, "starttls": 587, "tls": 465}[s.smtp_tls],
            username=s.smtp_username or None,
            password=s.smtp_password or None,
            use_tls=s.smtp_tls == "tls",
            start_tls=s.smtp_tls == "starttls",
            timeout=s.smtp_timeout,
        )
        try:
            await client.connect()
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TemporaryMailError(f"cannot reach SMTP server: {exc}") from exc
        try:
            yield _SmtpConnection(client)
        finally:
            if client.is_connected:
                try:
                    await client.quit()
                except (aiosmtplib.SMTPException, OSError, TimeoutError):
                    client.close()


class _SmtpConnection:
    def __init__(self, client: aiosmtplib.SMTP) -> None:
        self._client = client

    async def send(self, mail: Outgoing) -> None:
        try:
            if isinstance(mail.content, bytes):
                await self._client.sendmail(mail.envelope_from, [mail.to], mail.content)
            else:
                await self._client.send_message(mail.content)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [refused.code for refused in exc.recipients]
            error = f"recipient refused: {'; '.join(str(r) for r in exc.recipients)}"
            if codes and all(500 <= code < 600 for code in codes):
                raise PermanentMailError(error) from exc
            raise TemporaryMailError(error) from exc
        except (aiosmtplib.SMTPDataError, aiosmtplib.SMTPRecipientRefused) as exc:
            # 5xx on the recipient or the content is final; anything else may pass later.
            if 500 <= exc.code < 600:
                raise PermanentMailError(f"{exc.code} {exc.message}") from exc
            raise TemporaryMailError(f"{exc.code} {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            # Sender refused, authentication failed, connection lost: the operator's setup or the
            # network, not this recipient. Keep the mail and retry until it is fixed.
            raise TemporaryMailError(str(exc) or type(exc).__name__) from exc


class FileBackend:
    """Writes each mail as an .eml file and prints its links: the whole journey on one machine."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[Connection]:
        self._directory.mkdir(parents=True, exist_ok=True)
        yield _FileConnection(self._directory)


class _FileConnection:
    def __init__(self, directory: Path) -> None:
        self._directory = directory

    async def send(self, mail: Outgoing) -> None:
        data = mail.as_bytes()
        message = BytesParser(policy=policy.default).parsebytes(data)
        stem = str(message["Message-ID"]).strip("<>").replace("/", "_")
        path = self._directory / f"{stem}.eml"
        path.write_bytes(data)
        body = message.get_body(("plain",))
        text = body.get_content() if body is not None else ""
        # Development aid only (no SMTP configured): printed, never logged.
        print(f"[mail] {message['Subject']} -> {path}", file=sys.stderr)
        for link in _LINK.findall(text):
            print(f"[mail]   {link}", file=sys.stderr)


def backend_for(settings: Settings) -> Backend:
    if settings.smtp_host:
        return SmtpBackend(settings)
    log.warning("no PETITION_SMTP_HOST: mail is written to %s, not sent", settings.mail_dir)
    return FileBackend(settings.mail_dir)
