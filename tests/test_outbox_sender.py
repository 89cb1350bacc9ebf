"""Mail queued unrendered leaves rendered in the signer's language, and its values are erased;
a batch's outcome is written in one transaction."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, select

from petition import outbox
from petition.app import build_services
from petition.db import SessionFactory
from petition.mail import Backend, Connection, Outgoing, backend_for
from petition.models import Campaign, OutboxMail, OutboxStatus, SignatureStatus
from petition.settings import Settings
from petition.web.deps import Services
from tests.support import factories
from tests.support.clock import FakeClock
from tests.support.smtp import SmtpSink

LINK = "http://petition.test/c/mission-sante/confirm/tok3n-of-the-signer"


@pytest.fixture
async def services(settings: Settings, clock: FakeClock) -> AsyncIterator[Services]:
    """The site's own sender (rendering as the web pages do), driven batch by batch."""
    built = build_services(settings, clock)
    yield built
    await built.close()


def confirmation(first_name: str, clock: FakeClock) -> dict[str, object]:
    return {
        "campaign_title": "Mission santé",
        "campaign_url": "http://petition.test/c/mission-sante",
        "first_name": first_name,
        "withdraw_url": "http://petition.test/withdraw/tok3n-to-withdraw",
        "confirm_url": LINK,
        "expires_at": clock() + timedelta(days=7),
    }


async def queue(
    sessions: SessionFactory, clock: FakeClock, to: str, locale: str, context: dict[str, object]
) -> None:
    async with sessions() as session, session.begin():
        await outbox.enqueue_unrendered(
            session, template="confirm", to=to, locale=locale, context=context, now=clock()
        )


async def stored(sessions: SessionFactory) -> list[OutboxMail]:
    async with sessions() as session:
        rows = await session.execute(select(OutboxMail).order_by(OutboxMail.id))
        return list(rows.scalars())


async def test_unrendered_mail_leaves_in_the_signers_language_and_its_values_are_erased(
    services: Services, sessions: SessionFactory, smtp: SmtpSink, clock: FakeClock
) -> None:
    await queue(sessions, clock, "lea@example.org", "fr", confirmation("Léa", clock))
    await queue(sessions, clock, "sam@example.org", "en", confirmation("Sam", clock))

    await services.sender.drain_once()

    [french] = smtp.to("lea@example.org")
    [english] = smtp.to("sam@example.org")
    assert french["Subject"] == "Confirmez votre signature : Mission santé"
    assert english["Subject"] == "Confirm your signature: Mission santé"
    french_text = french.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Bonjour Léa," in french_text and LINK in french_text
    # The expiry went through JSON and back as an aware datetime, shown in the site's zone.
    expires = (clock() + timedelta(days=7)).astimezone(ZoneInfo(services.settings.timezone))
    assert f"{expires.year}, {expires:%H:%M}" in french_text
    for row in await stored(sessions):
        assert row.status is OutboxStatus.SENT
        assert (row.to_address, row.context, row.subject, row.body_text) == (None,) * 4


async def test_a_mail_that_cannot_be_rendered_is_refused_alone_and_nothing_personal_is_logged(
    services: Services,
    sessions: SessionFactory,
    smtp: SmtpSink,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = confirmation("Zébulon", clock)
    del broken["confirm_url"]  # the template needs it
    await queue(sessions, clock, "zebulon@example.org", "fr", broken)
    await queue(sessions, clock, "lea@example.org", "fr", confirmation("Léa", clock))

    with caplog.at_level(logging.INFO):
        await services.sender.drain_once()
        clock.advance(hours=1)  # past any retry: a refused mail is not tried again
        await services.sender.drain_once()

    assert [m["To"] for m in smtp.messages] == ["lea@example.org"]
    refused, sent = await stored(sessions)
    assert (refused.status, refused.attempts) == (OutboxStatus.FAILED, 1)
    assert refused.last_error == "cannot render the confirm mail: UndefinedError"
    assert (refused.to_address, refused.context) == (None, None)
    assert sent.status is OutboxStatus.SENT
    assert "zebulon" not in caplog.text.lower() and "tok3n" not in caplog.text


async def test_discarding_a_signatures_unsent_mail_erases_its_values(
    sessions: SessionFactory, campaign: Campaign, clock: FakeClock
) -> None:
    signature = await factories.signature(
        sessions, campaign, status=SignatureStatus.PENDING, at=clock()
    )
    async with sessions() as session, session.begin():
        await outbox.enqueue_unrendered(
            session, template="confirm", to="marie@example.org", locale="fr",
            context=confirmation("Marie", clock), now=clock(), signature_id=signature.id,
        )  # fmt: skip
        await outbox.discard_unsent(session, [signature.id])

    [row] = await stored(sessions)
    assert row.status is OutboxStatus.FAILED
    assert (row.to_address, row.context, row.signature_id) == (None, None, None)


async def test_a_naive_datetime_is_refused_when_queued(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    context = confirmation("Léa", clock) | {"expires_at": clock().replace(tzinfo=None)}
    with pytest.raises(ValueError, match="naive datetime"):
        await queue(sessions, clock, "lea@example.org", "fr", context)


async def test_a_batch_is_claimed_in_one_commit_and_its_outcome_written_in_another(
    services: Services,
    sessions: SessionFactory,
    smtp: SmtpSink,
    clock: FakeClock,
) -> None:
    smtp.refuse.add("nobody@example.org")
    for n in range(20):
        await queue(sessions, clock, f"s{n}@example.org", "fr", confirmation(f"S{n}", clock))
    await queue(sessions, clock, "nobody@example.org", "fr", confirmation("Nobody", clock))
    commits: list[object] = []
    # The sender's engine is the site's own: count the commits it makes.
    event.listen(services.engine.sync_engine, "commit", commits.append)

    await services.sender.drain_once()

    assert len(smtp.messages) == 20
    assert len(commits) == 2
    rows = await stored(sessions)
    assert [r.status for r in rows] == [OutboxStatus.SENT] * 20 + [OutboxStatus.FAILED]
    assert all(r.to_address is None and r.context is None for r in rows)


class StopsAfterOne:
    """The real SMTP backend, with the process told to stop while its first mail leaves."""

    def __init__(self, backend: Backend, stop: Callable[[], None]) -> None:
        self._backend, self._stop = backend, stop

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[Connection]:
        async with self._backend.connect() as connection:
            yield self._Stopping(connection, self._stop)

    class _Stopping:
        def __init__(self, connection: Connection, stop: Callable[[], None]) -> None:
            self._connection, self._stop = connection, stop

        async def send(self, mail: Outgoing) -> None:
            self._stop()
            await self._connection.send(mail)


async def test_a_sender_told_to_stop_finishes_its_mail_and_gives_the_rest_back_due_at_once(
    services: Services, sessions: SessionFactory, smtp: SmtpSink, clock: FakeClock
) -> None:
    for n in range(5):
        await queue(sessions, clock, f"s{n}@example.org", "fr", confirmation(f"S{n}", clock))
    sender: outbox.Sender
    sender = outbox.Sender(
        sessions, StopsAfterOne(backend_for(services.settings), lambda: sender.stop()),
        sender_address="petition@petition.test", clock=clock, render=services.render_mail,
        after_erasure=services.scrub, poll_interval=0.1, retry_base=0.1, retry_max=0.5,
    )  # fmt: skip

    await sender.run()  # returns once stopped

    assert [m["To"] for m in smtp.messages] == ["s0@example.org"]
    sent, *rest = await stored(sessions)
    assert sent.status is OutboxStatus.SENT and sent.to_address is None
    assert all(r.status is OutboxStatus.PENDING and r.attempts == 0 for r in rest)
    assert all(r.next_attempt_at <= clock() for r in rest)  # no lease to wait out
