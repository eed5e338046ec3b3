"""One-time codes for the debtor portal (login, and verifying a new email or phone) sent through
the reminders' own email and SMS channels. A code is a secret: it is handed to the channel and
never stored or published here (no delivery row, no event), and never logged."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Literal

from krafa_notifier import mime
from krafa_notifier.channels import EmailChannel
from krafa_notifier.content import RenderedEmail, normalise_language
from krafa_notifier.sms import SmsProvider

Purpose = Literal["login", "verify"]

# Short and plain, GSM-7 where the language allows, one SMS segment.
TEXTS: dict[str, dict[str, str]] = {
    "is": {
        "login": "Innskráningarkóði",
        "verify": "Staðfestingarkóði",
        "body": "{what} þinn á Mínum síðum ({creditor}) er {code}. Hann gildir í {minutes} mínútur. "
        "Ef þú baðst ekki um hann skaltu hunsa þessi skilaboð.",
        "sms": "{code} er {what_lower} thinn hja {creditor}. Gildir i {minutes} min.",
    },
    "nb": {
        "login": "Innloggingskode",
        "verify": "Bekreftelseskode",
        "body": "{what} for Mine sider ({creditor}) er {code}. Den gjelder i {minutes} minutter. "
        "Hvis du ikke ba om den, kan du se bort fra denne meldingen.",
        "sms": "{code} er din {what_lower} hos {creditor}. Gjelder i {minutes} min.",
    },
    "et": {
        "login": "Sisselogimiskood",
        "verify": "Kinnituskood",
        "body": "Teie {what_lower} iseteenindusse ({creditor}) on {code}. See kehtib {minutes} minutit. "
        "Kui te seda ei küsinud, jätke see sõnum tähelepanuta.",
        "sms": "{code} on teie {what_lower} ({creditor}). Kehtib {minutes} min.",
    },
    "en": {
        "login": "Login code",
        "verify": "Verification code",
        "body": "Your {what_lower} for My pages ({creditor}) is {code}. It is valid for {minutes} minutes. "
        "If you did not ask for it, please ignore this message.",
        "sms": "{code} is your {what_lower} for {creditor}. Valid for {minutes} min.",
    },
}


@dataclass(frozen=True, slots=True)
class CodeMessage:
    subject: str
    text: str
    sms: str
    language: str


def message(purpose: Purpose, code: str, *, language: str, creditor: str, minutes: int) -> CodeMessage:
    lang = normalise_language(language)
    words = TEXTS.get(lang, TEXTS["en"])
    what = words[purpose]
    values = {"what": what, "what_lower": what.lower(), "code": code, "creditor": creditor, "minutes": minutes}
    return CodeMessage(
        subject=f"{what}: {code}",
        text=words["body"].format(**values),
        sms=words["sms"].format(**values),
        language=lang,
    )


async def send_email(
    channel: EmailChannel, msg: CodeMessage, *, sender: str, recipient: str, domain: str, now: datetime
) -> None:
    rendered = RenderedEmail(subject=msg.subject, text=msg.text + "\n", html=_html(msg), language=msg.language)
    message_id = f"<code-{uuid.uuid4()}@{domain}>"
    data = mime.build_email(rendered, sender=sender, recipient=recipient, message_id=message_id, date=now)
    await channel.send(
        envelope_from=sender, recipients=mime.envelope_recipients(recipient), message=data, interactive=True
    )


async def send_sms(provider: SmsProvider, msg: CodeMessage, *, recipient: str) -> None:
    await provider.send(to=recipient, text=msg.sms, client_ref=f"code-{uuid.uuid4()}", callback_url=None)


def _html(msg: CodeMessage) -> str:
    return f'<!doctype html><html lang="{escape(msg.language)}"><body><p>{escape(msg.text)}</p></body></html>'
