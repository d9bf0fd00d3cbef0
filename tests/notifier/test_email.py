"""Alert e-mails: what a duty officer reads, and what the mail server made of each send."""

from __future__ import annotations

import asyncio
import re
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
from smtp_support import running_smtp

from schemas.cap import Alert, Area, Info, MsgType, Status, parse_cap_json
from schemas.cap_types import Reference
from schemas.cap_xml import parse_cap_xml
from services.localnet.mailsink import MailSink, serve_mail_sink
from services.notifier.email import (
    MAX_SUBJECT,
    Letter,
    Mail,
    SmtpSession,
    render_email,
    send_email,
)

EXAMPLES = Path(__file__).parents[2] / "schemas" / "examples"
WARNING = parse_cap_json((EXAMPLES / "alert.meuse-flood-warning.json").read_bytes())
DUTCH, GERMAN = WARNING.info
FRENCH = DUTCH.model_copy(
    update={
        "language": "fr-BE",
        "event": "Crue de la Meuse",
        "headline": "La Meuse à Venlo dépassera 17,50 m NAP",
        "area": [Area(area_desc="Liège"), Area(area_desc="Maastricht")],
    }
)
ENGLISH = DUTCH.model_copy(
    update={"language": "en-GB", "event": "Meuse flood", "headline": "Meuse above 17.50 m NAP"}
)
FLEMISH = DUTCH.model_copy(
    update={"language": "nl-BE", "headline": "Maas bij Venlo boven 17,50 m NAP (Vlaanderen)"}
)
OFFICER = "officer@liege.example.org"
MAIL_FROM = "crossalert@example.org"
MESSAGE_ID = "<delivery-42.NL-VRLN-20261128-0007@crossalert.example.org>"
EARLIER = Reference.model_validate(
    "meldkamer@vrln.example.org,NL-VRLN-20261128-0006,2026-11-28T09:00:00+01:00"
)
NOTES = (
    "Deze melding is niet beschikbaar in uw taal",
    "Cette alerte n'est pas disponible dans votre langue",
    "Diese Warnung ist in Ihrer Sprache nicht verfügbar",
    "This alert is not available in your language",
)


def compose(
    alert: Alert = WARNING,
    *,
    language: str | None = "nl-NL",
    language_available: bool = True,
    escalation: str | None = None,
) -> EmailMessage:
    """The alert rendered for the officer."""
    return render_email(
        alert=alert,
        to=OFFICER,
        mail_from=MAIL_FROM,
        message_id=MESSAGE_ID,
        language=language,
        language_available=language_available,
        escalation=escalation,
    )


def render(
    alert: Alert = WARNING,
    *,
    language: str | None = "nl-NL",
    language_available: bool = True,
    escalation: str | None = None,
) -> EmailMessage:
    """The alert rendered for the officer, read back from its wire form."""
    message = compose(
        alert, language=language, language_available=language_available, escalation=escalation
    )
    return read(message.as_bytes())


def read(data: bytes) -> EmailMessage:
    """A message parsed from its wire form."""
    return BytesParser(EmailMessage, policy=policy.default).parsebytes(data)


def body_of(message: EmailMessage) -> str:
    """The plain-text body."""
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def kept_files(folder: Path) -> list[Path]:
    """Every file in the mail folder, oldest first."""
    return sorted(folder.iterdir())


def with_infos(*infos: Info) -> Alert:
    """The warning carrying these info blocks."""
    return WARNING.model_copy(update={"info": list(infos)})


@pytest.mark.parametrize(
    ("infos", "language", "shown"),
    [
        ((DUTCH, FLEMISH, GERMAN), "nl-BE", FLEMISH),
        ((DUTCH, FLEMISH, GERMAN), "NL-be", FLEMISH),
        ((DUTCH, FLEMISH, GERMAN), "nl-NL", DUTCH),
        ((DUTCH, GERMAN), "de-BE", GERMAN),
        ((DUTCH, ENGLISH, GERMAN), "fr-BE", ENGLISH),
        ((DUTCH, GERMAN), "fr-BE", DUTCH),
        ((GERMAN, ENGLISH), None, ENGLISH),
    ],
    ids=["exact", "exact-any-case", "exact-first-of-two", "primary", "english", "first", "none"],
)
def test_the_info_block_in_the_recipients_language_is_shown(
    infos: tuple[Info, ...], language: str | None, shown: Info
) -> None:
    message = render(with_infos(*infos), language=language)

    body = body_of(message)
    assert shown.headline is not None and shown.headline in body
    for other in infos:
        if other is not shown:
            assert other.headline is not None and other.headline not in body
    assert shown.event in str(message["Subject"])


def test_a_missing_language_is_said_in_four_languages_at_the_top() -> None:
    body = body_of(render(language="fr-BE", language_available=False))

    first_lines = body.splitlines()[:4]
    assert [line.split(";")[0].rstrip() for line in first_lines] == list(NOTES)
    assert all(line.endswith("nl-NL.") for line in first_lines)


def test_no_language_note_when_the_recipients_language_is_there() -> None:
    body = body_of(render(language="nl-NL", language_available=True))

    assert not any(note in body for note in NOTES)


def test_an_ordinary_alert_has_a_plain_subject() -> None:
    message = render(with_infos(FRENCH), language="fr-BE")

    assert message["Subject"] == "Severe — Crue de la Meuse — Liège; Maastricht"
    assert "EXERCISE" not in body_of(message)


@pytest.mark.parametrize("status", [Status.EXERCISE, Status.TEST])
def test_an_exercise_is_marked_in_the_subject_and_at_both_ends_of_the_body(
    status: Status,
) -> None:
    message = render(WARNING.model_copy(update={"status": status}))

    assert str(message["Subject"]).startswith("[EXERCISE] Severe — Hoogwater Maas")
    lines = body_of(message).strip().splitlines()
    assert lines[0] == lines[-1] == "EXERCISE — NOT A REAL EMERGENCY"
    assert message["X-CAP-Status"] == status.value


def test_an_escalation_is_marked_and_explained_first() -> None:
    sentence = "Crisis centre Venlo did not acknowledge within 15 minutes; you are its escalation."

    message = render(escalation=sentence)

    assert str(message["Subject"]).startswith("[ESCALATION] Severe — Hoogwater Maas")
    assert body_of(message).startswith(f"ESCALATION: {sentence}\n")


def test_an_exercise_escalation_carries_both_markers_exercise_first() -> None:
    alert = WARNING.model_copy(update={"status": Status.EXERCISE})

    message = render(alert, escalation="Nobody acknowledged.")

    assert str(message["Subject"]).startswith("[EXERCISE] [ESCALATION] Severe")


@pytest.mark.parametrize(
    ("msg_type", "prefix"), [(MsgType.UPDATE, "UPDATE: "), (MsgType.CANCEL, "CANCEL: ")]
)
def test_updates_and_cancels_say_so_and_list_what_they_refer_to(
    msg_type: MsgType, prefix: str
) -> None:
    alert = WARNING.model_copy(update={"msg_type": msg_type, "references": [EARLIER]})

    message = render(alert)

    assert str(message["Subject"]).startswith(f"{prefix}Severe — Hoogwater Maas")
    body = body_of(message)
    assert "NL-VRLN-20261128-0006" in body
    assert "2026-11-28 09:00+01:00" in body


def test_a_cancel_without_info_is_rendered_from_its_note_and_references() -> None:
    alert = WARNING.model_copy(
        update={
            "msg_type": MsgType.CANCEL,
            "references": [EARLIER],
            "note": "Sent in error; the Meuse stays below the alert level.",
            "info": [],
        }
    )

    message = render(alert, language=None)

    assert str(message["Subject"]).startswith("CANCEL: NL-VRLN-20261128-0007")
    body = body_of(message)
    assert "Sent in error; the Meuse stays below the alert level." in body
    assert "NL-VRLN-20261128-0006" in body
    assert "meldkamer@vrln.example.org" in body


def test_the_subject_is_one_line_of_bounded_length() -> None:
    areas = [Area(area_desc=f"Gemeente nummer {n} aan de\nMaas") for n in range(40)]
    alert = with_infos(DUTCH.model_copy(update={"area": areas}))

    message = compose(alert, escalation="Nobody acknowledged.")

    subject = str(message["Subject"])
    assert len(subject) <= MAX_SUBJECT
    assert subject.endswith("…")
    assert subject.startswith("[ESCALATION] Severe — Hoogwater Maas — Gemeente nummer 0 aan de")
    on_the_wire = str(read(message.as_bytes())["Subject"])
    assert "\n" not in on_the_wire and "\r" not in on_the_wire


def test_the_body_carries_what_an_officer_needs() -> None:
    body = body_of(render())

    for text in (
        DUTCH.headline,
        DUTCH.description,
        DUTCH.instruction,
        DUTCH.web,
        DUTCH.contact,
        "Veiligheidsregio Limburg-Noord",
        "Maasvallei Venlo – Roermond",
        "2026-11-28 14:05+01:00",
        "2026-11-30 18:00+01:00",
        "Severe — significant threat to life or property",
        "Expected",
        "Likely",
        "NL-VRLN-20261128-0007",
        "meldkamer@vrln.example.org",
    ):
        assert text is not None and text in body, text


def test_the_sender_is_named_by_address_when_the_info_has_no_name() -> None:
    alert = with_infos(DUTCH.model_copy(update={"sender_name": None}))

    assert "Issued by: meldkamer@vrln.example.org" in body_of(render(alert))


def test_the_cap_xml_is_attached_and_reads_back_to_the_same_alert() -> None:
    alert = WARNING.model_copy(update={"msg_type": MsgType.UPDATE, "references": [EARLIER]})

    message = render(alert)

    attachments = list(message.iter_attachments())
    assert len(attachments) == 1
    (attachment,) = attachments
    assert attachment.get_content_type() == "application/cap+xml"
    assert attachment.get_filename() == "NL-VRLN-20261128-0007.cap.xml"
    assert parse_cap_xml(attachment.get_content()) == alert


def test_the_attachment_name_is_safe_for_any_identifier() -> None:
    alert = WARNING.model_copy(update={"identifier": "../BE/LG:2026\\0042"})

    (attachment,) = render(alert).iter_attachments()

    assert attachment.get_filename() == "BE_LG_2026_0042.cap.xml"


def test_the_headers_identify_the_delivery_and_the_alert() -> None:
    first, again = render(), render()

    for message in (first, again):
        assert message["Message-ID"] == MESSAGE_ID
        assert message["From"] == MAIL_FROM
        assert message["To"] == OFFICER
        assert message["X-CAP-Identifier"] == "NL-VRLN-20261128-0007"
        assert message["X-CAP-Sender"] == "meldkamer@vrln.example.org"
        assert message["X-CAP-Status"] == "Actual"
        assert message["Date"] is not None


def letter_to(address: str, alert: Alert = WARNING) -> Mail:
    """The alert's letter for Dutch readers, addressed."""
    letter = Letter(alert=alert, mail_from=MAIL_FROM, language="nl-NL", language_available=True)
    return letter.to(address, message_id=MESSAGE_ID)


def test_a_letter_addressed_is_the_message_rendered_for_that_recipient() -> None:
    """The mailer flattens an alert once per way of reading it and only addresses it per
    recipient: what each recipient receives is what rendering it for them alone gives."""
    letter = Letter(alert=WARNING, mail_from=MAIL_FROM, language="nl-NL", language_available=True)
    first = letter.to(OFFICER, message_id=MESSAGE_ID)
    second = letter.to("other@maastricht.example.org", message_id="<2.x@crossalert.example.org>")
    alone = read(Mail.of(compose()).data)

    for mail, to, message_id in (
        (first, OFFICER, MESSAGE_ID),
        (second, "other@maastricht.example.org", "<2.x@crossalert.example.org>"),
    ):
        received = read(mail.data)
        assert (mail.mail_from, mail.to, mail.options) == (MAIL_FROM, to, [])
        assert (received["To"], received["Message-ID"]) == (to, message_id)
        for header in ("From", "Subject", "X-CAP-Identifier", "X-CAP-Sender", "X-CAP-Status"):
            assert received[header] == alone[header]
        assert received["Date"] is not None
        assert body_of(received) == body_of(alone)
        (attachment,) = received.iter_attachments()
        (expected,) = alone.iter_attachments()
        assert attachment.get_content() == expected.get_content()
    assert first.data.isascii()


async def test_a_mailbox_beyond_ascii_needs_a_server_with_smtputf8() -> None:
    mailbox = "jürgen.müller@städteregion-aachen.example.de"
    async with running_smtp(28036, smtputf8=True) as server:
        async with SmtpSession(host="127.0.0.1", port=28036, timeout=5) as smtp:
            outcome = await smtp.send(letter_to(mailbox))
        (received,) = await server.wait_for(1, timeout=5)
    async with running_smtp(28037) as plain:
        refused = await send_email(render_for(mailbox), host="127.0.0.1", port=28037, timeout=5)

    assert outcome.accepted
    assert received["To"] == mailbox
    assert not refused.accepted and refused.permanent
    assert not plain.messages


def render_for(to: str) -> EmailMessage:
    """The alert rendered for a recipient at `to`."""
    return render_email(alert=WARNING, to=to, mail_from=MAIL_FROM, message_id=MESSAGE_ID,
                        language="nl-NL", language_available=True)  # fmt: skip


async def test_a_message_the_server_takes_is_accepted() -> None:
    async with running_smtp(28025) as server:
        outcome = await send_email(render(), host="127.0.0.1", port=28025, timeout=5)

        (received,) = await server.wait_for(1, timeout=5)

    assert outcome.accepted
    assert not outcome.permanent
    assert outcome.detail.startswith("250")
    assert received["Message-ID"] == MESSAGE_ID
    assert DUTCH.headline is not None and DUTCH.headline in body_of(received)


async def test_a_451_is_a_temporary_failure_with_the_servers_words() -> None:
    async with running_smtp(28026, refuse_first=1, refuse_code=451) as server:
        outcome = await send_email(render(), host="127.0.0.1", port=28026, timeout=5)

    assert (outcome.accepted, outcome.permanent) == (False, False)
    assert outcome.detail == "451 4.3.0 Try again later"
    assert (server.refused, server.messages) == (1, [])


async def test_a_550_is_a_permanent_failure_with_the_servers_words() -> None:
    async with running_smtp(28027, refuse_first=1, refuse_code=550) as server:
        outcome = await send_email(render(), host="127.0.0.1", port=28027, timeout=5)

    assert (outcome.accepted, outcome.permanent) == (False, True)
    assert outcome.detail == "550 5.1.1 Mailbox unavailable"
    assert server.refused == 1


async def test_a_refused_message_sent_again_is_accepted() -> None:
    async with running_smtp(28028, refuse_first=1, refuse_with="4.7.1 Greylisted") as server:
        first = await send_email(render(), host="127.0.0.1", port=28028, timeout=5)
        second = await send_email(render(), host="127.0.0.1", port=28028, timeout=5)

        received = await server.wait_for(1, timeout=5)

    assert first.detail == "451 4.7.1 Greylisted"
    assert second.accepted
    assert len(received) == 1


async def test_a_session_sends_several_messages_over_one_connection() -> None:
    async with running_smtp(28033, refuse_first=1) as server:
        async with SmtpSession(host="127.0.0.1", port=28033, timeout=5) as smtp:
            outcomes = [await smtp.send(Mail.of(render())) for _ in range(3)]

        received = await server.wait_for(2, timeout=5)

    # The refusal of the first leaves the connection usable for the others.
    assert [o.accepted for o in outcomes] == [False, True, True]
    assert outcomes[0].detail == "451 4.3.0 Try again later"
    assert len(received) == 2
    assert len(server.peers) == 1


async def test_a_server_that_never_answers_costs_a_session_one_timeout() -> None:
    connections = 0

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.read()
        writer.close()

    listener = await asyncio.start_server(silent, "127.0.0.1", 28034)
    try:
        async with SmtpSession(host="127.0.0.1", port=28034, timeout=0.5) as smtp:
            outcomes = [await smtp.send(Mail.of(render())) for _ in range(3)]
    finally:
        listener.close()

    assert {(o.accepted, o.permanent) for o in outcomes} == {(False, False)}
    assert len({o.detail for o in outcomes}) == 1 and "0.5 s" in outcomes[0].detail
    assert connections == 1


async def test_a_session_cut_short_mid_message_ends_without_a_goodbye() -> None:
    """A mailer cancelled (its notifier stopping) while the server waits for the rest of a
    message closes the connection: a QUIT would be read as part of the message and never
    answered, and the stop would wait the whole SMTP timeout for it."""
    in_data = asyncio.Event()
    after_data = bytearray()

    async def waits_for_the_end_of_the_message(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(b"220 relay.example.org ESMTP\r\n")
        while line := await reader.readline():
            if line[:4].upper() == b"DATA":
                writer.write(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                in_data.set()
                after_data.extend(await reader.read())  # never says whether it took it
                break
            writer.write(b"250 OK\r\n")
        writer.close()

    async def send_one() -> None:
        async with SmtpSession(host="127.0.0.1", port=28035, timeout=120) as smtp:
            await smtp.send(Mail.of(render()))

    listener = await asyncio.start_server(waits_for_the_end_of_the_message, "127.0.0.1", 28035)
    try:
        sending = asyncio.create_task(send_one())
        async with asyncio.timeout(30):  # a bound on a hang, never on speed
            await in_data.wait()
        await asyncio.sleep(0.2)  # the message goes out; its answer never comes
        sending.cancel()
        # Waiting for a QUIT's answer would take the session's timeout (120 s).
        await asyncio.wait({sending}, timeout=30)
    finally:
        listener.close()

    assert sending.done(), "the cut-short session still waits for the server"
    assert sending.cancelled()
    assert b"QUIT" not in after_data


async def test_a_closed_port_is_a_temporary_failure() -> None:
    outcome = await send_email(render(), host="127.0.0.1", port=28029, timeout=5)

    assert (outcome.accepted, outcome.permanent) == (False, False)
    assert outcome.detail


async def test_a_server_that_never_answers_is_a_temporary_failure_within_the_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    listener = await asyncio.start_server(silent, "127.0.0.1", 28030)
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        outcome = await send_email(render(), host="127.0.0.1", port=28030, timeout=0.5)
        elapsed = loop.time() - started
    finally:
        listener.close()

    assert (outcome.accepted, outcome.permanent) == (False, False)
    assert "0.5 s" in outcome.detail
    assert elapsed < 3


async def test_the_mail_sink_keeps_each_mail_as_a_readable_eml_file(tmp_path: Path) -> None:
    folder = tmp_path / "mail"

    with MailSink(folder, port=28031):
        first = await send_email(render(), host="127.0.0.1", port=28031, timeout=5)
        second = await send_email(render(), host="127.0.0.1", port=28031, timeout=5)

    assert first.accepted and second.accepted
    files = kept_files(folder)
    assert [re.sub(r"^\d{8}T\d{6}\.\d{6}Z-", "", f.name) for f in files] == [
        "0001-officer@liege.example.org.eml",
        "0002-officer@liege.example.org.eml",
    ]
    kept = read(files[0].read_bytes())
    assert kept["Subject"] == "Severe — Hoogwater Maas — Maasvallei Venlo – Roermond"
    (attachment,) = kept.iter_attachments()
    assert parse_cap_xml(attachment.get_content()) == WARNING


async def test_serve_mail_sink_takes_mail_until_cancelled(tmp_path: Path) -> None:
    serving = asyncio.create_task(serve_mail_sink(tmp_path, "127.0.0.1", 28032))
    try:
        for _ in range(100):
            outcome = await send_email(render(), host="127.0.0.1", port=28032, timeout=5)
            if outcome.accepted:
                break
            await asyncio.sleep(0.05)
    finally:
        serving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await serving

    assert outcome.accepted, outcome.detail
    assert [path.suffix for path in kept_files(tmp_path)] == [".eml"]
    closed = await send_email(render(), host="127.0.0.1", port=28032, timeout=5)
    assert not closed.accepted
