"""The notifier's outside world for tests: a real SMTP server and a real HTTP print provider."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from krafa.sinks.provider_sink import create_app as create_provider_app
from krafa.sinks.smtp_catcher import SmtpCatcher
from krafa_kit.embedded import EmbeddedBroker
from krafa_kit.testing import serving
from krafa_notifier.settings import Settings

SECRET = "test-return-path-secret"  # noqa: S105


@dataclass
class World:
    smtp: SmtpCatcher
    print_url: str
    spool: Path

    def settings(self, database_url: str, broker: EmbeddedBroker) -> Settings:
        from pydantic import SecretStr

        return Settings(
            database_url=database_url,
            kafka_bootstrap=broker.bootstrap,
            smtp_port=self.smtp.port,
            print_url=self.print_url,
            return_path_secret=SecretStr(SECRET),
            return_domain="returns.test",
        )

    def letters(self) -> list[Path]:
        return sorted((self.spool / "providers" / "print").glob("*.pdf"))


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with (
        SmtpCatcher(tmp_path / "mail", port=0) as smtp,
        serving(create_provider_app(tmp_path / "providers")) as url,
    ):
        yield World(smtp=smtp, print_url=url, spool=tmp_path)
