"""One key per mailbox, by what each provider documents, and no stored hash changed besides."""

from __future__ import annotations

import pytest

from petition import mailboxes, tokens

SECRET = b"a test secret that is long enough to key hashes"


@pytest.mark.parametrize(
    "address",
    [
        "jeanne.dupont+hdh@gmail.com",
        "JeanneDupont@gmail.com",
        " j.e.a.n.n.e.d.u.p.o.n.t@GMAIL.com ",
        "jeanne.dupont@googlemail.com",
        "jeannedupont+petitions+2026@googlemail.com",
        "jeannedupont@ｇｍａｉｌ.com",  # full-width letters: the same domain once IDNA-mapped
    ],
)
def test_spellings_of_one_gmail_mailbox_have_one_hash(address: str) -> None:
    assert tokens.mailbox_key(address) == "jeannedupont@gmail.com"
    assert tokens.email_hash(SECRET, address) == tokens.email_hash(SECRET, "jeannedupont@gmail.com")


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("jeanne+news@outlook.com", "jeanne@outlook.com"),
        ("jeanne.dupont+x@hotmail.com", "jeanne.dupont@hotmail.com"),  # dots count there
        ("jeanne+x@live.com", "jeanne@live.com"),
        ("jeanne+x@msn.com", "jeanne@msn.com"),
        ("jeanne+x@icloud.com", "jeanne@icloud.com"),
        ("jeanne+x@me.com", "jeanne@me.com"),  # not folded into icloud.com: not asked for
        ("jeanne+x@mac.com", "jeanne@mac.com"),
        ("jeanne.d+x@fastmail.com", "jeanne.d@fastmail.com"),
        ("jeanne+x@fastmail.fm", "jeanne@fastmail.fm"),
        ("Jeanne.Du-pont_x+tag@proton.me", "jeannedupontx@proton.me"),
        ("jeanne.dupont@protonmail.com", "jeannedupont@protonmail.com"),
        ("jeanne.dupont@pm.me", "jeannedupont@pm.me"),
    ],
)
def test_listed_providers_drop_what_they_document(address: str, key: str) -> None:
    assert tokens.mailbox_key(address) == key


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("jeanne.dupont@laposte.net", "jeannedupont@laposte.net"),
        ("jeanne+x@orange.fr", "jeanne@orange.fr"),
        ("jeanne+x@free.fr", "jeanne@free.fr"),
        ("jeanne.dupont@sfr.fr", "jeannedupont@sfr.fr"),
        ("jeanne-petitions@yahoo.com", "jeanne@yahoo.com"),  # a Yahoo disposable address
        ("jeanne+x@yahoo.com", "jeanne@yahoo.com"),
        ("jeanne.dupont@outlook.com", "jeannedupont@outlook.com"),
        ("jeanne+x@chu-lyon.fr", "jeanne@chu-lyon.fr"),  # not listed: as typed
        ("jeanne+x@gmail.com.example", "jeanne@gmail.com.example"),
    ],
)
def test_addresses_kept_apart_have_two_hashes(one: str, other: str) -> None:
    assert tokens.email_hash(SECRET, one) != tokens.email_hash(SECRET, other)


@pytest.mark.parametrize(
    "address",
    [
        "camille@example.org",
        "Camille.Martin+asso@chu-lyon.fr",
        "jeanne.dupont@laposte.net",
        "jeanne-x@yahoo.com",
        "camille@bücher.example",
        "jeannedupont@gmail.com",
        "jeanne@outlook.com",
    ],
)
def test_hashes_already_stored_do_not_change_where_no_rule_applies(address: str) -> None:
    assert tokens.email_hash(SECRET, address) == tokens.legacy_email_hash(SECRET, address)
    assert tokens.email_hashes(SECRET, address) == (tokens.email_hash(SECRET, address),)


def test_lookups_try_the_legacy_hash_first() -> None:
    address = "Jeanne.Dupont@gmail.com"
    assert tokens.email_hashes(SECRET, address) == (
        tokens.legacy_email_hash(SECRET, address),
        tokens.email_hash(SECRET, address),
    )


@pytest.mark.parametrize("address", ["+tag@gmail.com", "...@gmail.com", "@gmail.com"])
def test_a_key_never_loses_its_whole_local_part(address: str) -> None:
    assert tokens.mailbox_key(address) == address


def test_every_listed_provider_says_where_it_documents_its_rules() -> None:
    for domain, provider in mailboxes.PROVIDERS.items():
        assert domain == domain.lower() and domain.isascii()
        assert provider.source
        assert not provider.same_as or provider.same_as in mailboxes.PROVIDERS
