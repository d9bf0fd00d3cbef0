"""Alert e-mails: pure functions render the message, an SMTP session hands it to the server.

Every recipient who reads an alert alike (same language, same notes) gets the same message but
for the headers naming the recipient: a `Letter` is rendered and flattened once for all of them,
and each `Mail` is those bytes with its own To, Date and Message-ID in front.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

import aiosmtplib

from schemas.cap import Alert, Certainty, Info, MsgType, Severity, Status, Urgency
from schemas.cap_xml import to_cap_xml
from schemas.errors import IngestWarning
from schemas.signatures import SignatureVerdict

MAX_SUBJECT = 200
EXERCISE_BANNER = "EXERCISE — NOT A REAL EMERGENCY"

_EXERCISE_STATUSES = (Status.EXERCISE, Status.TEST)

# The CAP 1.2 definitions, so a reader need not know the standard's vocabulary.
_SEVERITY_WORDS = {
    Severity.EXTREME: "extraordinary threat to life or property",
    Severity.SEVERE: "significant threat to life or property",
    Severity.MODERATE: "possible threat to life or property",
    Severity.MINOR: "minimal to no known threat to life or property",
    Severity.UNKNOWN: "severity unknown",
}
_URGENCY_WORDS = {
    Urgency.IMMEDIATE: "act immediately",
    Urgency.EXPECTED: "act soon (within the next hour)",
    Urgency.FUTURE: "act in the near future",
    Urgency.PAST: "action no longer required",
    Urgency.UNKNOWN: "urgency unknown",
}
_CERTAINTY_WORDS = {
    Certainty.OBSERVED: "has occurred or is ongoing",
    Certainty.LIKELY: "probability above about 50 %",
    Certainty.POSSIBLE: "possible but not likely, probability about 50 % or less",
    Certainty.UNLIKELY: "not expected to occur",
    Certainty.UNKNOWN: "certainty unknown",
}
_FOLLOW_UP_WORDS = {
    MsgType.UPDATE: "UPDATE — this message replaces the earlier message(s) listed below.",
    MsgType.CANCEL: "CANCEL — the earlier message(s) listed below are withdrawn.",
    MsgType.ACK: "ACK — this message acknowledges the earlier message(s) listed below.",
    MsgType.ERROR: "ERROR — this message rejects the earlier message(s) listed below.",
}
_NOT_IN_YOUR_LANGUAGE = (
    "Deze melding is niet beschikbaar in uw taal; weergegeven in {language}.",
    "Cette alerte n'est pas disponible dans votre langue ; affichée en {language}.",
    "Diese Warnung ist in Ihrer Sprache nicht verfügbar; angezeigt in {language}.",
    "This alert is not available in your language; shown in {language}.",
)
_UNSAFE_IN_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class SendOutcome:
    """What the mail server made of one message."""

    accepted: bool
    """The server took it (2xx)."""
    permanent: bool
    """Refused for good (5xx); False for temporary failures (4xx, connection, timeout)."""
    detail: str
    """The server's answer, e.g. "250 2.0.0 OK", or the connection error."""


def choose_info(alert: Alert, language: str | None) -> Info | None:
    """The info block to show for `language`: exact tag, same primary subtag, English, first."""
    if not alert.info:
        return None
    if language:
        wanted = language.casefold()
        for info in alert.info:
            if info.language.casefold() == wanted:
                return info
        primary = _primary(language)
        for info in alert.info:
            if _primary(info.language) == primary:
                return info
    for info in alert.info:
        if _primary(info.language) == "en":
            return info
    return alert.info[0]


def render_email(
    *,
    alert: Alert,
    to: str,
    mail_from: str,
    message_id: str,
    language: str | None,
    language_available: bool,
    escalation: str | None = None,
    warnings: Sequence[IngestWarning] = (),
    signature: SignatureVerdict | None = None,
) -> EmailMessage:
    """The alert as an e-mail to one recipient: plain-text body and the CAP XML attached."""
    message = _letter(
        alert=alert, mail_from=mail_from, language=language,
        language_available=language_available, escalation=escalation, warnings=warnings,
        signature=signature,
    )  # fmt: skip
    for name, value in _recipient_headers(to, message_id).items():
        message[name] = value
    return message


@dataclass(frozen=True)
class Mail:
    """One message on its way: the envelope's addresses and the bytes the server receives."""

    mail_from: str
    to: str
    data: bytes

    @classmethod
    def of(cls, message: EmailMessage) -> Mail:
        """A rendered message, flattened for SMTP."""
        mail_from, to = parseaddr(str(message["From"]))[1], parseaddr(str(message["To"]))[1]
        return cls(mail_from, to, message.as_bytes(policy=_wire_policy(mail_from, to)))

    @property
    def options(self) -> list[str]:
        """The MAIL command's options: addresses beyond ASCII need a server with SMTPUTF8."""
        return [] if (self.mail_from + self.to).isascii() else ["SMTPUTF8"]


class Letter:
    """An alert's e-mail as every recipient reading it alike receives it, flattened once."""

    def __init__(
        self,
        *,
        alert: Alert,
        mail_from: str,
        language: str | None,
        language_available: bool,
        escalation: str | None = None,
        warnings: Sequence[IngestWarning] = (),
        signature: SignatureVerdict | None = None,
    ) -> None:
        self._mail_from = mail_from
        # Everything in it is 7-bit (encoded words, quoted-printable, base64): the same bytes
        # go to servers with or without SMTPUTF8 and 8BITMIME.
        self._data = _letter(
            alert=alert, mail_from=mail_from, language=language,
            language_available=language_available, escalation=escalation, warnings=warnings,
            signature=signature,
        ).as_bytes(policy=policy.SMTP)  # fmt: skip

    def to(self, address: str, *, message_id: str) -> Mail:
        """The letter addressed to one recipient."""
        head = EmailMessage(policy=_wire_policy(self._mail_from, address))
        for name, value in _recipient_headers(address, message_id).items():
            head[name] = value
        # A message of headers only ends with the blank line that the letter's headers follow.
        return Mail(self._mail_from, address, head.as_bytes().removesuffix(b"\r\n") + self._data)


def _letter(
    *,
    alert: Alert,
    mail_from: str,
    language: str | None,
    language_available: bool,
    escalation: str | None,
    warnings: Sequence[IngestWarning],
    signature: SignatureVerdict | None,
) -> EmailMessage:
    info = choose_info(alert, language)
    message = EmailMessage()
    message["From"] = mail_from
    message["Subject"] = _subject(alert, info, escalation=escalation)
    message["X-CAP-Identifier"] = alert.identifier
    message["X-CAP-Sender"] = alert.sender
    message["X-CAP-Status"] = alert.status.value
    body = _body(
        alert, info, language_available=language_available, escalation=escalation,
        warnings=warnings, signature=signature,
    )  # fmt: skip
    # Quoted-printable keeps the message 7-bit clean for relays without 8BITMIME.
    message.set_content(body, charset="utf-8", cte="quoted-printable")
    message.add_attachment(
        to_cap_xml(alert),
        maintype="application",
        subtype="cap+xml",
        filename=f"{_safe_filename(alert.identifier)}.cap.xml",
    )
    return message


def _recipient_headers(to: str, message_id: str) -> dict[str, str]:
    return {"To": to, "Date": format_datetime(datetime.now(UTC)), "Message-ID": message_id}


def _wire_policy(*addresses: str) -> policy.EmailPolicy[EmailMessage]:
    return policy.SMTP if "".join(addresses).isascii() else policy.SMTPUTF8


class SmtpSession:
    """Messages handed to one SMTP server over one connection, opened for the first message.

    Every refusal or failure becomes a SendOutcome; nothing raises. Once the connection fails
    (cannot connect, lost, no answer in time), the messages after it get that same temporary
    outcome at once: a dead server costs one timeout, not one per message.
    """

    def __init__(self, *, host: str, port: int, timeout: float) -> None:
        self._host = host
        self._port = port
        self._timeout = timeout
        self._client: aiosmtplib.SMTP | None = None
        self._broken: SendOutcome | None = None

    async def __aenter__(self) -> SmtpSession:
        return self

    async def __aexit__(self, error_type: type[BaseException] | None, *_: object) -> None:
        if self._client is None:
            return
        # A conversation cut short (the worker cancelled mid-message, say) just ends: the server
        # would read a QUIT as part of the unfinished message and never answer it.
        if error_type is None:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                async with asyncio.timeout(self._timeout):
                    await self._client.quit()
        self._client.close()

    async def send(self, mail: Mail) -> SendOutcome:
        """Hand one message to the server; what it made of it."""
        if self._broken is not None:
            return self._broken
        try:
            async with asyncio.timeout(self._timeout):
                if self._client is None:
                    client = aiosmtplib.SMTP(
                        hostname=self._host, port=self._port, timeout=self._timeout
                    )
                    await client.connect()
                    self._client = client
                _, answer = await self._client.sendmail(
                    mail.mail_from, [mail.to], mail.data, mail_options=mail.options
                )
        except (aiosmtplib.SMTPException, OSError, TimeoutError, ValueError) as error:
            outcome = self._failure(error)
            if self._client is None or not self._client.is_connected or _lost(error):
                self._broken = outcome
                if self._client is not None:
                    self._client.close()
                self._client = None
            return outcome
        return SendOutcome(accepted=True, permanent=False, detail=f"250 {answer}")

    def _failure(self, error: Exception) -> SendOutcome:
        match error:
            case aiosmtplib.SMTPRecipientsRefused(recipients=refusals):
                return SendOutcome(
                    accepted=False,
                    permanent=bool(refusals) and all(_is_permanent(r.code) for r in refusals),
                    detail="; ".join(f"{r.code} {r.message} ({r.recipient})" for r in refusals),
                )
            case aiosmtplib.SMTPResponseException(code=code, message=text):
                return SendOutcome(
                    accepted=False, permanent=_is_permanent(code), detail=f"{code} {text}"
                )
            case aiosmtplib.SMTPNotSupported():
                # e.g. a non-ASCII address and a server without SMTPUTF8: trying again cannot help.
                return SendOutcome(accepted=False, permanent=True, detail=str(error))
            case ValueError():
                # aiosmtplib refuses an address it cannot put on the wire before sending it.
                return SendOutcome(accepted=False, permanent=True, detail=f"not sent: {error}")
            case TimeoutError():
                detail = f"no answer from {self._host}:{self._port} within {self._timeout:g} s"
                return SendOutcome(accepted=False, permanent=False, detail=detail)
        detail = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        return SendOutcome(accepted=False, permanent=False, detail=detail)


async def send_email(
    message: EmailMessage,
    *,
    host: str,
    port: int,
    timeout: float,  # noqa: ASYNC109  (a timeout becomes an outcome; a caller's would raise)
) -> SendOutcome:
    """Hand one message to the SMTP server on a connection of its own; never raises."""
    async with SmtpSession(host=host, port=port, timeout=timeout) as session:
        return await session.send(Mail.of(message))


def _subject(alert: Alert, info: Info | None, *, escalation: str | None) -> str:
    prefix = ""
    if alert.status in _EXERCISE_STATUSES:
        prefix += "[EXERCISE] "
    if escalation is not None:
        prefix += "[ESCALATION] "
    if alert.msg_type is not MsgType.ALERT:
        prefix += f"{alert.msg_type.value.upper()}: "
    if info is not None:
        parts = [info.severity.value, info.event]
        areas = "; ".join(area.area_desc for area in info.area)
        if areas:
            parts.append(areas)
    else:
        parts = [alert.identifier, *([alert.note] if alert.note else [])]
    subject = _one_line(prefix + " — ".join(parts))
    if len(subject) > MAX_SUBJECT:
        subject = subject[: MAX_SUBJECT - 1].rstrip() + "…"
    return subject


def _body(
    alert: Alert,
    info: Info | None,
    *,
    language_available: bool,
    escalation: str | None,
    warnings: Sequence[IngestWarning],
    signature: SignatureVerdict | None = None,
) -> str:
    exercise = alert.status in _EXERCISE_STATUSES
    blocks: list[list[str]] = []
    if exercise:
        blocks.append([EXERCISE_BANNER])
    if escalation is not None:
        blocks.append([f"ESCALATION: {escalation}"])
    if not language_available:
        shown = info.language if info is not None else "en"
        blocks.append([line.format(language=shown) for line in _NOT_IN_YOUR_LANGUAGE])
    if alert.msg_type in _FOLLOW_UP_WORDS:
        blocks.append([_FOLLOW_UP_WORDS[alert.msg_type]])
    if info is not None:
        blocks.extend(_info_blocks(alert, info))
    else:
        blocks.append([f"Sent: {_when(alert.sent)}"])
    if alert.note:
        blocks.append(["Note:", alert.note])
    if signature is not None and signature.signatures:
        blocks.append([f"Signature: {signature.summary()}."])
    if warnings:
        # An external source's alert: the officer must know it is not all its issuer said.
        blocks.append(
            [
                "What the network repaired or left out of the issuer's document:",
                *(f"- {w.action}: {w.field}: {w.message}" for w in warnings),
            ]
        )
    if alert.references:
        blocks.append(
            [
                "References:",
                *(
                    f"- {ref.identifier} from {ref.sender}, sent {_when(ref.sent)}"
                    for ref in alert.references
                ),
            ]
        )
    blocks.append(
        [
            f"Alert identifier: {alert.identifier}",
            f"Alert sender: {alert.sender}",
            f"Status: {alert.status.value}, message type: {alert.msg_type.value}",
        ]
    )
    if exercise:
        blocks.append([EXERCISE_BANNER])
    return "\n\n".join("\n".join(block) for block in blocks) + "\n"


def _info_blocks(alert: Alert, info: Info) -> list[list[str]]:
    blocks: list[list[str]] = []
    if info.headline:
        blocks.append([info.headline])
    facts = [
        f"Event: {info.event}",
        f"Issued by: {info.sender_name or alert.sender}",
        f"Sent: {_when(alert.sent)}",
    ]
    if info.onset is not None:
        facts.append(f"Onset: {_when(info.onset)}")
    if info.expires is not None:
        facts.append(f"Expires: {_when(info.expires)}")
    facts += [
        f"Severity: {info.severity.value} — {_SEVERITY_WORDS[info.severity]}",
        f"Urgency: {info.urgency.value} — {_URGENCY_WORDS[info.urgency]}",
        f"Certainty: {info.certainty.value} — {_CERTAINTY_WORDS[info.certainty]}",
    ]
    blocks.append(facts)
    if info.description:
        blocks.append(["Description:", info.description])
    if info.instruction:
        blocks.append(["Instruction:", info.instruction])
    if info.area:
        blocks.append(["Areas:", *(f"- {area.area_desc}" for area in info.area)])
    links = [
        *([f"Web: {info.web}"] if info.web else []),
        *([f"Contact: {info.contact}"] if info.contact else []),
    ]
    if links:
        blocks.append(links)
    return blocks


def _primary(tag: str) -> str:
    return tag.split("-", 1)[0].casefold()


def _when(value: datetime) -> str:
    return value.isoformat(sep=" ", timespec="minutes")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _safe_filename(identifier: str) -> str:
    return _UNSAFE_IN_FILENAME.sub("_", identifier).strip("._") or "alert"


def _is_permanent(code: int) -> bool:
    return 500 <= code <= 599


def _lost(error: Exception) -> bool:
    # After a timeout the conversation is in an unknown state: never reuse the connection.
    return isinstance(error, TimeoutError | aiosmtplib.SMTPServerDisconnected | OSError)
