"""Database models. What is stored is what DESIGN.md and the privacy notice promise, no more."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def bind_processor(self, dialect: Dialect) -> Callable[[datetime | None], Any] | None:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        # The text SQLAlchemy's SQLite DATETIME writes ("2026-12-01 09:30:00.000000"), made by
        # datetime.isoformat in C rather than by a %-format of eight fields in Python: a
        # signing binds six datetimes.
        def process(value: datetime | None) -> str | None:
            utc = self.process_bind_param(value, dialect)
            return None if utc is None else utc.replace(tzinfo=None).isoformat(" ", "microseconds")

        return process


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class CampaignKind(enum.StrEnum):
    PETITION = "petition"
    LETTER = "letter"


class Grouping(enum.StrEnum):
    """How a letter's published signatories are grouped on its page and in its documents."""

    ORGANISATION = "organisation"
    ROLE = "role"


class SignatureStatus(enum.StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    WITHDRAWN = "withdrawn"
    INVALIDATED = "invalidated"  # by an organiser, with a reason; can be restored
    # Confirmed, but caught by an anti-abuse rule: not counted until an organiser releases it.
    QUARANTINED = "quarantined"


class Publication(enum.StrEnum):
    """What of a signer the signer agreed to show publicly; nothing beyond it is ever shown."""

    NONE = "none"  # counted only
    NAME = "name"
    NAME_ROLE = "name_role"
    NAME_ROLE_ORG = "name_role_org"

    @property
    def shows_name(self) -> bool:
        return self is not Publication.NONE

    @property
    def shows_role(self) -> bool:
        return self in (Publication.NAME_ROLE, Publication.NAME_ROLE_ORG)

    @property
    def shows_organisation(self) -> bool:
        return self is Publication.NAME_ROLE_ORG

    def shown(self, typed: Mapping[str, str | None]) -> dict[str, str | None]:
        """Of a signer's four fields as typed, those this choice shows; None for the rest."""
        return {
            "first_name": typed["first_name"] if self.shows_name else None,
            "last_name": typed["last_name"] if self.shows_name else None,
            "role": typed["role"] if self.shows_role else None,
            "organisation": typed["organisation"] if self.shows_organisation else None,
        }


class TokenPurpose(enum.StrEnum):
    CONFIRM = "confirm"
    WITHDRAW = "withdraw"


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


def _enum(kind: type[enum.StrEnum], name: str) -> Enum:
    # Stored as plain strings with a CHECK constraint: readable in SQL, portable, easy to extend.
    return Enum(
        kind,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [m.value for m in members],
    )


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    kind: Mapped[CampaignKind] = mapped_column(_enum(CampaignKind, "campaign_kind"))
    title: Mapped[str] = mapped_column(String(300))
    body_markdown: Mapped[str] = mapped_column(Text)
    # Rendered and sanitised once, when the text is saved, so page views do no Markdown work.
    body_html: Mapped[str] = mapped_column(Text)
    goal: Mapped[int | None] = mapped_column(Integer)
    opens_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Optional fields the organiser makes mandatory ("role", "organisation").
    required_fields: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    grouping: Mapped[Grouping] = mapped_column(
        _enum(Grouping, "signatory_grouping"), default=Grouping.ORGANISATION
    )
    # Action kit: a letter signers may send themselves after confirming, filled in with their
    # name on their screen; nothing of it is stored per signer.
    kit_title: Mapped[str | None] = mapped_column(String(200))
    kit_email: Mapped[str | None] = mapped_column(String(254))
    kit_subject: Mapped[str | None] = mapped_column(String(300))
    kit_body: Mapped[str | None] = mapped_column(Text)
    # The privacy notice: who is responsible for the data, and whom to ask about them.
    controller: Mapped[str | None] = mapped_column(String(300))
    privacy_contact: Mapped[str | None] = mapped_column(String(300))
    # When the retention purge erased its signers' personal data (counts and tallies stay).
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The data key new signatures are sealed to (petition.sealing): the newest `campaign_keys`
    # row, repeated here so that signing reads it with the campaign. NULL: not sealed.
    seal_key_id: Mapped[int | None] = mapped_column(Integer)
    seal_public_key: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    # Whether a sealed export waits for a second owner's approval (petition.four_eyes): on by
    # default; off only while the campaign has a single organiser.
    four_eyes: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # The language its text is written in: pages in another interface language mark the text
    # with it (WCAG 3.1.2), and screen readers read it with the right voice.
    language: Mapped[str] = mapped_column(String(8), default="fr", server_default="fr")
    # Signatures gathered on paper (petition.paper), part of the count and shown apart from it
    # ("dont 312 sur papier"): kept with the batches, in the transaction that changes them.
    paper_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The official petition beside ours (petition.official), e.g. on the Sénat's platform:
    # its link and rules, and its count as last entered by organisers or read from its feed.
    official_url: Mapped[str | None] = mapped_column(String(500))
    official_platform: Mapped[str | None] = mapped_column(String(100))
    official_threshold: Mapped[int | None] = mapped_column(Integer)
    official_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    official_count: Mapped[int | None] = mapped_column(Integer)
    official_count_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    official_count_source: Mapped[str | None] = mapped_column(String(16))  # "organiser", "feed"
    # A JSON document giving its count, read periodically, and where the count is in it
    # (a dotted path, "data.signatures"); the last failure, shown to organisers only.
    official_feed_url: Mapped[str | None] = mapped_column(String(500))
    official_feed_field: Mapped[str | None] = mapped_column(String(200))
    official_feed_error: Mapped[str | None] = mapped_column(String(300))
    official_feed_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Signers who asked to be kept informed are reminded this many days before its deadline,
    # once (the time it was done is the claim).
    official_reminder_days: Mapped[int | None] = mapped_column(Integer)
    official_reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def sealed(self) -> bool:
        return self.seal_public_key is not None

    def has_opened(self, now: datetime) -> bool:
        return self.opens_at is None or now >= self.opens_at

    def is_open(self, now: datetime) -> bool:
        return self.has_opened(now) and (self.closes_at is None or now < self.closes_at)


class CounterShard(Base):
    """Confirmed-signature counter, split so concurrent confirmations don't queue on one row."""

    __tablename__ = "counter_shards"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    shard: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    confirmed: Mapped[int] = mapped_column(Integer, default=0)


class Signature(Base):
    __tablename__ = "signatures"
    __table_args__ = (
        # NULL hashes (withdrawn tombstones) do not collide, on SQLite and PostgreSQL alike.
        UniqueConstraint("campaign_id", "email_hash", name="uq_signatures_campaign_email"),
        # Also serves the dashboard's per-day and per-hour charts (a range on confirmed_at).
        Index("ix_signatures_campaign_status_confirmed", "campaign_id", "status", "confirmed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    status: Mapped[SignatureStatus] = mapped_column(_enum(SignatureStatus, "signature_status"))
    # HMAC-SHA256 of the normalised address with the server secret; the address itself is not kept.
    email_hash: Mapped[str | None] = mapped_column(String(64))
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    role: Mapped[str | None] = mapped_column(String(200))
    organisation: Mapped[str | None] = mapped_column(String(200))
    publication: Mapped[Publication] = mapped_column(_enum(Publication, "publication"))
    locale: Mapped[str] = mapped_column(String(8))
    consent_version: Mapped[str] = mapped_column(String(32))
    consented_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Only the part after the @, for moderation by domain; erased with the rest on withdrawal.
    email_domain: Mapped[str | None] = mapped_column(String(253))
    invalidated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    invalidation_reason: Mapped[str | None] = mapped_column(String(200))
    # Confirmed from an address on a domain the organisers map to the organisation named.
    affiliation_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    # The anti-abuse rule that caught it when it was made: it is quarantined at confirmation.
    quarantine_rule: Mapped[str | None] = mapped_column(String(32))
    # What the signer typed and did not agree to publish, sealed to the campaign's data key
    # `sealed_key_id` (petition.sealing): the clear columns above hold only what is published.
    sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    sealed_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaign_keys.id", ondelete="SET NULL")
    )
    # A named signature signed on paper and typed in by organisers (petition.paper): no
    # address, no mail; counted, published and erased under the same rules as the others.
    paper_batch_id: Mapped[int | None] = mapped_column(
        ForeignKey("paper_batches.id", ondelete="CASCADE"), index=True
    )


class ReaderKey(Base):
    """A reader's public key: the sealed fields of the campaigns they read are opened with its
    secret half, which the server never has."""

    __tablename__ = "reader_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Whose key: an organiser's (a reader of every campaign they own or edit), or one
    # campaign's own, given when it was created from the command line (whoever holds the file).
    organiser_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisers.id", ondelete="CASCADE"), index=True
    )
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Replaced by a newer key of the same organiser: kept for the grants made to it.
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CampaignKey(Base):
    """A campaign's data key: signatures are sealed to its public half; its secret half exists
    only sealed to each reader (`key_grants`)."""

    __tablename__ = "campaign_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Replaced when the readers changed: it opens the signatures sealed before that.
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class KeyGrant(Base):
    """A data key's secret half, sealed to one reader's public key."""

    __tablename__ = "key_grants"

    campaign_key_id: Mapped[int] = mapped_column(
        ForeignKey("campaign_keys.id", ondelete="CASCADE"), primary_key=True
    )
    reader_key_id: Mapped[int] = mapped_column(
        ForeignKey("reader_keys.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    sealed_secret: Mapped[bytes] = mapped_column(LargeBinary)


class ExportRequest(Base):
    """A sealed export asked for by one organiser, for a second owner to approve (four eyes)."""

    __tablename__ = "export_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    requested_by: Mapped[int | None] = mapped_column(
        ForeignKey("organisers.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(String(16))  # pending, approved, refused, downloaded
    filters: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("organisers.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # An approval is good for a while only: the file is fetched soon, or asked for again.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SignatureToken(Base):
    """A link sent by mail. Only the SHA-256 of the random token is stored."""

    __tablename__ = "signature_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    signature_id: Mapped[int] = mapped_column(
        ForeignKey("signatures.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[TokenPurpose] = mapped_column(_enum(TokenPurpose, "token_purpose"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboxMail(Base):
    """A mail to send. Address and content exist only until it is sent or definitively refused."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    template: Mapped[str] = mapped_column(String(64))
    signature_id: Mapped[int | None] = mapped_column(
        ForeignKey("signatures.id", ondelete="SET NULL"), index=True
    )
    to_address: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(Text)
    body_text: Mapped[str | None] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    status: Mapped[OutboxStatus] = mapped_column(_enum(OutboxStatus, "outbox_status"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attachment_name: Mapped[str | None] = mapped_column(String(200))
    attachment: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Letters to addressees: better not sent than sent twice. Such a mail found "being sent"
    # after a crash is reported as interrupted instead of being sent again.
    at_most_once: Mapped[bool] = mapped_column(Boolean, default=False)
    sending_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Mail queued while someone signs is rendered by the sender, not in their request: the
    # language and the template's values (JSON; a first name, links with their tokens) wait
    # here, and are erased with the address.
    locale: Mapped[str | None] = mapped_column(String(8))
    context: Mapped[str | None] = mapped_column(Text)
    # The batch of a campaign update this mail belongs to (petition.updates), for its status.
    update_batch_id: Mapped[int | None] = mapped_column(
        ForeignKey("update_batches.id", ondelete="SET NULL"), index=True
    )
    # A mail to a list (a campaign update): its one-click unsubscribe link, for the
    # List-Unsubscribe header (RFC 8058); erased with the address.
    unsubscribe_url: Mapped[str | None] = mapped_column(String(500))


class MailAllowance(Base):
    """Mails sent to one address (known by its keyed hash) in its current day, per kind of
    mail: the daily cap, counted in one atomic step. Deleted once the day is over."""

    __tablename__ = "mail_allowances"

    recipient_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    # Not indexed: every signing writes here, the hourly purge alone reads by it (a day's rows).
    day_started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent: Mapped[int] = mapped_column(Integer)


def utcnow() -> datetime:
    return datetime.now(UTC)


class OrganiserTokenPurpose(enum.StrEnum):
    SET_PASSWORD = "set_password"  # noqa: S105  # a purpose name, not a password


class Organiser(Base):
    """Someone who runs campaigns. Like signers, known by a keyed hash of their address only."""

    __tablename__ = "organisers"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    # argon2id; NULL until the organiser has chosen a password through their link.
    password_hash: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Two-factor authentication (TOTP): the shared secret, sealed with a key derived from the
    # server secret (petition.totp), and the last time step accepted, so that a code cannot be
    # replayed.
    totp_secret: Mapped[str | None] = mapped_column(String(200))
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    # Where their campaigns' news reach them (a milestone reached): the address they sign in
    # with, sealed with a key derived from the server secret (petition.kept); renewed at
    # each sign-in, NULL until the first one after this was added.
    notify_address: Mapped[bytes | None] = mapped_column(LargeBinary)


class OrganiserToken(Base):
    """A one-time link to choose a password (first time, or reset). Only its hash is stored."""

    __tablename__ = "organiser_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    organiser_id: Mapped[int] = mapped_column(
        ForeignKey("organisers.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[OrganiserTokenPurpose] = mapped_column(
        _enum(OrganiserTokenPurpose, "organiser_token_purpose")
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OrganiserSession(Base):
    """A signed-in browser. The cookie holds a random id; the database only its hash."""

    __tablename__ = "organiser_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    organiser_id: Mapped[int] = mapped_column(
        ForeignKey("organisers.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Role(enum.StrEnum):
    OWNER = "owner"  # everything, including managing the campaign's organisers
    EDITOR = "editor"  # edits and moderates
    VIEWER = "viewer"  # counts and charts, no names


class CampaignOrganiser(Base):
    """Who may do what on a campaign; an organiser reaches no campaign without a row here."""

    __tablename__ = "campaign_organisers"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    organiser_id: Mapped[int] = mapped_column(
        ForeignKey("organisers.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[Role] = mapped_column(_enum(Role, "organiser_role"))


class AuditEntry(Base):
    """Who did what to signers' data, when, and to how many: read by the campaign's owners."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_campaign_time", "campaign_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))
    organiser_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisers.id", ondelete="SET NULL")
    )
    # The actor as named at the time, so the entry stays readable if the account goes.
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(32))
    details: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Affiliation(Base):
    """An email domain that belongs to an organisation, for one campaign (`chu-lyon.fr` → CHU de
    Lyon): a signer whose address is on it, who names that organisation and confirms, is shown
    as verified (decided at signing: `petition.affiliations`)."""

    __tablename__ = "affiliations"
    __table_args__ = (UniqueConstraint("campaign_id", "domain", name="uq_affiliations_domain"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    domain: Mapped[str] = mapped_column(String(253))
    organisation: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Addressee(Base):
    """Someone a letter is sent to, e.g. a hospital director. Public officials in their role:
    their professional address is kept, unlike signers'."""

    __tablename__ = "addressees"
    __table_args__ = (UniqueConstraint("campaign_id", "email", name="uq_addressees_email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    salutation: Mapped[str] = mapped_column(String(100))  # "Madame la directrice"
    name: Mapped[str] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(String(200))
    institution: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    # Organisation names and email domains that belong to the institution, to find its staff.
    organisations: Mapped[list[str]] = mapped_column(JSON, default=list)
    domains: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The last mail of the letter to them: its status is theirs (queued, sent, failed).
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id", ondelete="SET NULL"))


class PrivacyNotice(Base):
    """One version of a campaign's privacy notice: the facts it stated when signers consented.

    A new version is written whenever one of them changes; each signature names its version.
    """

    __tablename__ = "privacy_notices"
    __table_args__ = (
        UniqueConstraint("campaign_id", "version", name="uq_privacy_notices_version"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    text_revision: Mapped[str] = mapped_column(String(32))  # the wording's own revision
    controller: Mapped[str] = mapped_column(String(300))
    contact: Mapped[str] = mapped_column(String(300))
    unconfirmed_days: Mapped[int] = mapped_column(Integer)
    anonymise_after_days: Mapped[int] = mapped_column(Integer)
    signals_days: Mapped[int] = mapped_column(Integer)
    # Whether a file of sealed names needs a second owner's approval; NULL when the campaign
    # was not sealed (nothing to approve), or for a version written before the setting existed.
    four_eyes: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SpentChallenge(Base):
    """A proof-of-work solution already accepted: the same one is never accepted twice."""

    __tablename__ = "spent_challenges"

    challenge_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class AbuseSignal(Base):
    """That a rule caught a signature, for organisers to see what spikes; kept 30 days."""

    __tablename__ = "abuse_signals"
    __table_args__ = (Index("ix_abuse_signals_campaign_time", "campaign_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    rule: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CampaignTally(Base):
    """Published aggregates (by role, by organisation) kept when a campaign is anonymised."""

    __tablename__ = "campaign_tallies"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    dimension: Mapped[str] = mapped_column(String(16))  # "published", "role", "organisation"
    label: Mapped[str] = mapped_column(String(200))
    count: Mapped[int] = mapped_column(Integer)


class ManageToken(Base):
    """A mailed link to manage every signature of one address. Only hashes are stored."""

    __tablename__ = "manage_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_hash: Mapped[str] = mapped_column(String(64), index=True)
    # The address's hash before the mailbox rules (petition.mailboxes), when they change it:
    # what its older signatures hold.
    legacy_email_hash: Mapped[str | None] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ScheduledRun(Base):
    """When each scheduled job last ran: whichever process claims it first runs it, once."""

    __tablename__ = "scheduled_runs"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    runs: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class CampaignText(Base):
    """A campaign's title and text in one more language (petition.translations); the campaign
    row holds them in its own `language`. One campaign, one count, whatever the language."""

    __tablename__ = "campaign_texts"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    language: Mapped[str] = mapped_column(String(8), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    body_markdown: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    kit_subject: Mapped[str | None] = mapped_column(String(300))
    kit_body: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Milestone(Base):
    """A threshold of a campaign's count and what it means ("the Sénat's threshold"). Reached
    once: `reached_at` is set by the one statement that finds it NULL (petition.milestones)."""

    __tablename__ = "milestones"
    __table_args__ = (UniqueConstraint("campaign_id", "threshold", name="uq_milestones_threshold"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    threshold: Mapped[int] = mapped_column(Integer)
    # Its meaning per language, {"fr": "Seuil du Sénat", "en": "The Senate's threshold"}.
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PaperBatch(Base):
    """Signatures gathered on paper, recorded by organisers: a counted total, or named rows
    (signatures with `paper_batch_id`) imported with the consent signed on the sheets."""

    __tablename__ = "paper_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    reference: Mapped[str] = mapped_column(String(200))  # "Stand at the Lyon congress"
    gathered_on: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sheets: Mapped[int | None] = mapped_column(Integer)
    named: Mapped[bool] = mapped_column(Boolean, default=False)
    # What it adds to the count: the total counted, or its named rows still counted.
    counted: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("organisers.id", ondelete="SET NULL"))
    corrected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Subscription(Base):
    """A signer who asked to be kept informed of a campaign: their address, encrypted with a
    key derived from the server secret (petition.subscriptions), until they unsubscribe, their
    signature goes, or the campaign is anonymised."""

    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    signature_id: Mapped[int] = mapped_column(
        ForeignKey("signatures.id", ondelete="CASCADE"), unique=True
    )
    sealed_address: Mapped[bytes] = mapped_column(LargeBinary)
    locale: Mapped[str] = mapped_column(String(8))
    # The privacy notice in force when they ticked the box, which states how it is kept.
    consent_version: Mapped[str] = mapped_column(String(32))
    consented_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CampaignUpdate(Base):
    """News organisers send to the signers who asked for it; paced through the outbox in
    batches (`update_batches`)."""

    __tablename__ = "campaign_updates"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    # Per language: {"fr": {"subject": ..., "body_markdown": ..., "body_html": ...}}.
    texts: Mapped[dict[str, dict[str, str]]] = mapped_column(JSON, default=dict)
    # "draft", "sending" (batches being queued), "sent" (every batch queued).
    status: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("organisers.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Subscriptions up to this id are queued already (they go in id order, batch by batch).
    queued_through: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # "update": news written by organisers; "reminder": the official deadline's reminder.
    kind: Mapped[str] = mapped_column(String(16), default="update", server_default="update")


class UpdateBatch(Base):
    """One batch of an update's mails, queued together; its status is its outbox rows'."""

    __tablename__ = "update_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    update_id: Mapped[int] = mapped_column(
        ForeignKey("campaign_updates.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    recipients: Mapped[int] = mapped_column(Integer)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime)
