"""Settings come from PETITION_* variables, refuse unsafe values, and keep the secret private."""

from __future__ import annotations

import multiprocessing
import stat
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from petition.db import async_url
from petition.settings import Settings, SettingsError


def test_settings_read_from_environment(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "PETITION_VAR_DIR": str(tmp_path),
            "PETITION_PORT": "9000",
            "PETITION_SMTP_TLS": "tls",
            "PETITION_SECURE_COOKIES": "yes",
            "PETITION_MAIL_RETRY_BASE": "2.5",
        }
    )
    assert (settings.port, settings.smtp_tls, settings.secure_cookies) == (9000, "tls", True)
    assert settings.mail_retry_base == 2.5
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'petition.db'}"
    assert settings.public_url == "http://127.0.0.1:9000"  # links follow the port when unset


@pytest.mark.parametrize(
    "environ",
    [
        {"PETITION_SMTP_TLS": "maybe"},
        {"PETITION_PORT": "eighty"},
        {"PETITION_SECRET_KEY": "changeme"},
        {"PETITION_SECRET_KEY": "too-short"},
        {"PETITION_BASE_URL": "petition.example.org"},
        {"PETITION_SECURE_COOKIES": "perhaps"},
        {"PETITION_SERVER": "gunicorn"},
        {"PETITION_ACCESSIBILITY_STATUS": "partly"},
        {"PETITION_ACCESSIBILITY_STATEMENT_DATE": "2026-02-30"},
    ],
)
def test_unusable_values_are_refused(environ: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        Settings.from_env(environ)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"PETITION_ACCESSIBILITY_STATUS": "conformant"},
            "PETITION_ACCESSIBILITY_STATUS must be one of ('full', 'partial', 'none'),"
            " not 'conformant'",
        ),
        *(
            (
                {"PETITION_ACCESSIBILITY_STATEMENT_DATE": day},
                "PETITION_ACCESSIBILITY_STATEMENT_DATE must be a day written YYYY-MM-DD",
            )
            for day in ("01/12/2026", "20261201", "2026-W48-2", "2026-13-01", "soon")
        ),
    ],
)
def test_a_bad_accessibility_setting_is_refused_saying_what_is_expected(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env(environ)
    assert str(refused.value).startswith(message)


def test_the_accessibility_statement_settings_are_read_from_the_environment() -> None:
    unset = Settings.from_env({})
    assert (unset.accessibility_status, unset.accessibility_statement_day) == ("partial", None)
    settings = Settings.from_env(
        {
            "PETITION_ACCESSIBILITY_STATUS": "full",
            "PETITION_ACCESSIBILITY_STATEMENT_DATE": "2026-12-01",
        }
    )
    assert settings.accessibility_status == "full"
    assert settings.accessibility_statement_day == date(2026, 12, 1)


@pytest.mark.parametrize("server", ["granian", "uvicorn"])
def test_either_http_server_can_be_chosen(server: str) -> None:
    assert Settings.from_env({"PETITION_SERVER": server}).server == server


WORKERS = 8
TRIALS = 25


def _first_start(barrier: Any, base: str, results: Any) -> None:
    """One worker process starting: at the same moment as the others, each trial."""
    for trial in range(TRIALS):
        barrier.wait()
        try:
            secret = Settings(var_dir=Path(base) / str(trial)).load_secret_key().decode()
        except SettingsError as exc:
            secret = f"refused: {exc}"
        results.put((trial, secret))


def test_workers_starting_together_all_read_the_one_secret(tmp_path: Path) -> None:
    """Eight processes create the secret at once, 25 times over: one secret each time, whole."""
    spawn = multiprocessing.get_context("spawn")
    barrier, results = spawn.Barrier(WORKERS), spawn.Queue()
    workers = [
        spawn.Process(target=_first_start, args=(barrier, str(tmp_path), results))
        for _ in range(WORKERS)
    ]
    for worker in workers:
        worker.start()
    read: dict[int, set[str]] = {}
    for _ in range(WORKERS * TRIALS):
        trial, secret = results.get(timeout=60)
        read.setdefault(trial, set()).add(secret)
    for worker in workers:
        worker.join(timeout=30)
    assert [len(secrets) for secrets in read.values()] == [1] * TRIALS, read
    assert all(len(secret) >= 32 for [secret] in read.values())


@pytest.mark.parametrize("content", ["", "\n", "short"])
def test_an_empty_or_truncated_secret_file_is_refused(tmp_path: Path, content: str) -> None:
    (tmp_path / "secret.key").write_text(content)
    with pytest.raises(SettingsError, match="backup"):
        Settings(var_dir=tmp_path).load_secret_key()


def test_secret_is_generated_once_and_readable_by_owner_only(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path / "var")
    first = settings.load_secret_key()
    assert first == settings.load_secret_key()
    assert len(first) >= 32
    mode = stat.S_IMODE((tmp_path / "var" / "secret.key").stat().st_mode)
    assert mode == 0o600


@pytest.mark.parametrize(
    ("plain", "driver"),
    [
        ("sqlite:///var/petition.db", "sqlite+aiosqlite"),
        ("postgresql://user@db.local/petition", "postgresql+asyncpg"),
        ("postgres://user@db.local/petition", "postgresql+asyncpg"),
        ("postgresql+asyncpg://user@db.local/petition", "postgresql+asyncpg"),
    ],
)
def test_plain_database_urls_are_accepted(plain: str, driver: str) -> None:
    assert async_url(plain).drivername == driver


def test_unsupported_database_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        async_url("mysql://root@localhost/petition")
