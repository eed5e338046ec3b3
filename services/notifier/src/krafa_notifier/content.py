"""Reminder content: the facts a reminder carries, and their rendering into email, SMS and letter
text in the debtor's language.

All prose lives in Jinja2 templates (`templates/lang/<code>.j2`, one file per language holding
every tone and channel), so translators and, later, creditors edit text without touching code.
Because creditors will edit templates, they are rendered in a sandbox: a template can read the
values handed to it and nothing else (no attribute walking to `__globals__`, no mutation).

Templates never format numbers or dates themselves. The renderer hands them ready-made strings,
formatted by Babel for the debtor's locale from integer minor units, so money is never a float
and a template cannot get a currency's precision wrong.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal

from babel import Locale
from babel.dates import format_date as babel_format_date
from babel.numbers import format_currency, format_decimal
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, Template, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from krafa_events import currencies

Tone = Literal["friendly", "firm", "final"]

TEMPLATE_DIR: Final = Path(__file__).parent / "templates"

# The languages we have prose for, and the locale that formats money and dates for each.
# en_GB rather than en_US: day-month-year dates and the conventions of a European reader.
# Russian for Estonia's Russian speakers: CLDR has no ru_EE; plain "ru" formats "1 234,56 €" as Estonia does.
LOCALES: Final[Mapping[str, str]] = MappingProxyType(
    {"is": "is_IS", "nb": "nb_NO", "nn": "nn_NO", "et": "et_EE", "ru": "ru", "en": "en_GB"}
)
FALLBACK_LANGUAGE: Final = "en"
# "no" is the ISO 639-1 macrolanguage code for Norwegian and what many systems store; its
# written default is bokmål.
_LANGUAGE_ALIASES: Final[Mapping[str, str]] = MappingProxyType({"no": "nb"})
# The country each language's letters are normally posted in: a letter to an address in that
# country omits the country line (postal convention), any other gets it.
_HOME_COUNTRY: Final[Mapping[str, str]] = MappingProxyType({"is": "IS", "nb": "NO", "nn": "NO", "et": "EE", "ru": "EE"})
# Countries whose postal format puts the postcode on its own line after the town.
_POSTCODE_LAST: Final = frozenset({"GB", "IE"})

MAX_TEMPLATE_CHARS: Final = 20_000
_TONES: Final = frozenset({"friendly", "firm", "final"})
_CURRENCY_RE: Final = re.compile(r"[A-Z]{3}")
# Two or more line breaks (with optional blanks between) separate paragraphs in template prose.
# Only ASCII whitespace counts: "\s" would also eat the no-break spaces Babel puts inside
# amounts ("10.390\xa0kr."), which must never be split across lines.
_PARAGRAPH_BREAK: Final = re.compile(r"\n[ \t\r]*\n[ \t\r\n]*")
_WHITESPACE: Final = re.compile(r"[ \t\r\n]+")

# What every language template must export as `labels`; checked once, when a language is first
# used, so a template missing one fails loudly instead of printing an empty column header.
LABEL_KEYS: Final = frozenset(
    {
        "invoice",
        "description",
        "due_date",
        "amount",
        "fees",
        "interest",
        "total",
        "total_due",
        "payee",
        "account",
        "reference",
        "reference_each",
        "payment_link",
        "phone",
        "date",
        "reminder_no",
        "page",
        "principal",
        "payment_received",
        "written_off",
        "registration_no",
        "on_behalf_of",
        "statement",
        "legal_basis",
    }
)
# The notice kinds of the jurisdiction packs, by what their prose has to do: a courtesy reminder,
# the formal warning before collection, a collection letter sent by the agency, the last letter
# before legal steps, a claim-watch letter. A notice kind a pack adds later falls back on the
# group of its stage; the legal ones each get their own sentence in every language (`lead`).
NOTICE_GROUPS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "aminning": "courtesy",
        "purring": "courtesy",
        "meeldetuletus": "courtesy",
        "reminder": "courtesy",
        "innheimtuvidvorun": "warning",
        "inkassovarsel": "warning",
        "inkassohoiatus": "warning",
        "final_notice": "warning",
        "milliinnheimtubref": "collection",
        "betalingsoppfordring": "collection",
        "lokavidvorun": "final",
        "krofuvakt": "watch",
    }
)


# How a debtor pays where debtors of the country already pay (krafa_events PaymentIdentity): the
# labels of the payment section beyond LABEL_KEYS, with English for a language that lacks them.
PAYMENT_LABELS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "netbank": "Pay in your online bank: the claim is among your unpaid bills",
        "claimant": "Creditor (ID no.)",
        "claim_no": "Claim (bank-ledger-number)",
        "kid": "KID",
        "iban": "IBAN",
        "reference_number": "Reference number",
        "slip": "Payment slip",
    }
)


@dataclass(frozen=True, slots=True)
class Payment:
    """How the debtor pays one claim: `bank_claim` (in the Icelandic netbank, under the creditor's
    kennitala, a claim bank and number), `kid` (Norway), `reference_number` (Estonia), `rf`/`plain`."""

    kind: str
    reference: str
    account: str = ""
    claimant_id: str | None = None
    claim_bank: str | None = None
    claim_number: str | None = None


def format_account(account: str, kind: str) -> str:
    """An account as its country prints it: an IBAN in groups of four, a Norwegian account number
    as 4.2.5 digits; anything else as given."""
    compact = "".join(account.split()).upper()
    if len(compact) > 4 and compact[:2].isalpha() and compact[2:4].isdigit():
        return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))
    digits = compact.replace(".", "")
    if kind == "kid" and len(digits) == 11 and digits.isdigit():
        return f"{digits[:4]}.{digits[4:6]}.{digits[6:]}"
    return account


def format_kennitala(value: str) -> str:
    return f"{value[:6]}-{value[6:]}" if len(value) == 10 and value.isdigit() else value


def _claim_number(payment: Payment) -> str:
    return f"{payment.claim_bank}-66-{payment.claim_number}"


@dataclass(frozen=True, slots=True)
class ClaimLine:
    """One overdue claim. Money is integer minor units of `currency` (ISO 4217)."""

    invoice_no: str
    description: str | None
    due_date: date
    amount_minor: int
    currency: str
    fees_minor: int = 0
    interest_minor: int = 0
    reference: str = ""
    payment: Payment | None = None
    paid_minor: int = 0  # what payments covered, as the ledger allocated them
    written_off_minor: int = 0
    # The ledger's lines (krafa_notifier.balance.Entry): principal, each fee and interest line,
    # each payment. Empty: the line is only its totals.
    entries: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if not _CURRENCY_RE.fullmatch(self.currency):
            raise ValueError(f"currency must be an ISO 4217 code, got {self.currency!r}")
        if self.fees_minor < 0 or self.interest_minor < 0:
            raise ValueError("fees and interest cannot be negative")

    @property
    def total_minor(self) -> int:
        """What is owed on the claim now: the ledger's balance."""
        return self.amount_minor + self.fees_minor + self.interest_minor - self.paid_minor - self.written_off_minor


@dataclass(frozen=True, slots=True)
class PostalAddress:
    name: str
    lines: tuple[str, ...]
    postcode: str
    city: str
    country: str  # ISO 3166-1 alpha-2


@dataclass(frozen=True, slots=True)
class Agency:
    """The collection agency a letter names after handover."""

    name: str
    registration_no: str = ""
    address: PostalAddress | None = None
    phone: str = ""


@dataclass(frozen=True, slots=True)
class ReminderContent:
    """Everything one reminder says, whatever the channel."""

    creditor_name: str
    creditor_contact_phone: str
    creditor_account: str  # IBAN or national account to pay to
    payment_link: str | None
    debtor_name: str
    language: str  # "is", "nb", "et", "en"; anything else falls back to en
    step: int
    tone: Tone
    claims: tuple[ClaimLine, ...]
    address: PostalAddress | None
    sent_on: date
    pay_by: date | None = None  # the date the reminder asks payment by, when the policy sets one
    default_language: str = FALLBACK_LANGUAGE  # the creditor's, for debtors in other languages
    # The debtor's personal link to the portal (see, pay by card, object, ask for time); where
    # there is one it is the message's link, in place of the creditor's payment link.
    portal_link: str | None = None
    # The legal notice (krafa_law): its kind in the jurisdiction's pack; None is a plain reminder.
    notice_kind: str | None = None
    jurisdiction: str | None = None
    creditor_registration_no: str = ""  # kennitala / organisasjonsnummer / registrikood
    creditor_address: PostalAddress | None = None  # the sender address a letter shows
    agency: Agency | None = None  # after handover: the collection agency that sends it
    # The name the creditor sends in (its trading name), when it set one; "" is `creditor_name`.
    creditor_sender_name: str = ""
    interest_rate_pct: Decimal | None = None  # the annual late-interest rate applied

    def __post_init__(self) -> None:
        if not self.claims:
            raise ValueError("a reminder lists at least one claim")
        if self.tone not in _TONES:
            raise ValueError(f"unknown tone {self.tone!r}")
        if self.step < 1:
            raise ValueError("step starts at 1")
        # The link becomes an href: only web links, never javascript: or data: URLs.
        for link in (self.payment_link, self.portal_link):
            if link is not None and not link.startswith(("https://", "http://")):
                raise ValueError("payment_link and portal_link must be http(s) URLs")


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    subject: str
    text: str
    html: str
    language: str = FALLBACK_LANGUAGE  # the language actually rendered (Content-Language)


@dataclass(frozen=True, slots=True)
class FormattedClaim:
    """A claim as the debtor reads it: every value already formatted for their locale."""

    invoice_no: str
    description: str | None
    due_date: str
    amount: str
    fees: str
    interest: str
    total: str
    reference: str
    has_fees: bool
    has_interest: bool
    paid: str = ""
    has_paid: bool = False


@dataclass(frozen=True, slots=True)
class LetterText:
    """The letter's words, laid out on paper by `letter.render_letter_pdf`."""

    language: str
    heading: str
    greeting: str
    intro: tuple[str, ...]
    closing: tuple[str, ...]
    sign_off: str
    creditor_name: str
    date: str
    step: int
    labels: Mapping[str, str]
    claims: tuple[FormattedClaim, ...]
    totals: tuple[str, ...]
    common_reference: str | None
    account: str
    payment_link: str | None
    contact_phone: str
    address_lines: tuple[str, ...]  # recipient block, name first, country last when foreign
    sender_line: str  # the small return line above the address in the envelope window
    pay_by: str | None = None
    portal_link: str | None = None  # printed with a QR code
    # The payment section as the country's payers know it: (label, value) rows and a title.
    pay_rows: tuple[tuple[str, str], ...] = ()
    pay_title: str = ""
    letterhead: tuple[str, ...] = ()  # under the sender's name: registry id, address, phone
    statement: tuple[tuple[str, str], ...] = ()  # the ledger's lines: (what, amount)
    clauses: tuple[str, ...] = ()  # what the notice kind must also say (consequences, rights)
    sender_name: str = ""  # who signs: the creditor, or the agency after handover


@dataclass(frozen=True, slots=True)
class TemplateOverride:
    """A creditor's own wording for one (template key, channel, language): `body` replaces the
    prose (the whole text of an SMS; the paragraphs above the itemised claims of an email or a
    letter, which keep the amounts, payment details and contact number whatever the creditor
    writes), `subject` the email subject. Both are Jinja2, rendered in the sandbox with `v`
    (the formatted reminder) and `labels`."""

    body: str
    subject: str | None = None


class TemplateInvalid(ValueError):
    """A creditor template that does not compile, reads what it may not, or names an unknown
    value."""


@dataclass(frozen=True, slots=True)
class _Language:
    """One language's compiled prose module and the Babel locale that goes with it."""

    code: str
    locale: Locale
    module: Any  # the template module: its macros and `labels`
    labels: Mapping[str, str]
    territories: Mapping[str, str] = field(default_factory=dict)


def normalise_language(language: str, default: str = FALLBACK_LANGUAGE) -> str:
    """`"IS"`, `"is-IS"`, `"nb_NO"` and `"no"` all name a language we write; any other falls back
    to `default` (the creditor's language) if we write that, else to English."""
    for candidate in (language, default):
        code = candidate.strip().lower().replace("_", "-").split("-", 1)[0]
        code = _LANGUAGE_ALIASES.get(code, code)
        if code in LOCALES:
            return code
    return FALLBACK_LANGUAGE


@lru_cache(maxsize=64)
def _precision(currency: str) -> int:
    # The minor unit the amount is counted in (ISK 0, EUR 2, KWD 3): the one currency table.
    return currencies.minor_units(currency)


def format_money(amount_minor: int, currency: str, locale: Locale) -> str:
    """Integer minor units to the locale's currency format, exactly (never a float): as Babel's
    format_currency writes the amount, by the shape Babel gives the currency in the locale
    (`_MoneyShape`), or by Babel itself where that shape does not reproduce it. Babel's pattern
    engine per amount was the largest single cost of rendering an email."""
    shape = _money_shape(currency, locale)
    if shape is None:
        return _babel_money(amount_minor, currency, locale)
    return shape.format(amount_minor)


def _babel_money(amount_minor: int, currency: str, locale: Locale) -> str:
    amount = Decimal(amount_minor).scaleb(-_precision(currency))
    return str(format_currency(amount, currency, locale=locale))


@dataclass(frozen=True, slots=True)
class _MoneyShape:
    """How one locale writes amounts of one currency: the text around the digits (for positive
    and for negative amounts), the grouping and decimal symbols, groups of three."""

    prefix: str
    suffix: str
    negative_prefix: str
    negative_suffix: str
    group: str
    decimal: str
    precision: int

    def format(self, amount_minor: int) -> str:
        major, minor = divmod(abs(amount_minor), 10**self.precision)
        digits = f"{major:,}".replace(",", self.group)
        if self.precision:
            digits += f"{self.decimal}{minor:0{self.precision}d}"
        if amount_minor < 0:
            return f"{self.negative_prefix}{digits}{self.negative_suffix}"
        return f"{self.prefix}{digits}{self.suffix}"


# Amounts (in major units) on which a derived shape must write exactly what Babel writes: every
# digit count and grouping boundary, both signs, with and without a fraction.
_SHAPE_CHECKS: Final = tuple(
    sign * major for major in (0, 1, 9, 12, 123, 1234, 12345, 123456, 1234567, 10000000, 987654321) for sign in (1, -1)
)
_DIGITS: Final = re.compile(r"[0-9]")


@lru_cache(maxsize=256)
def _money_shape(currency: str, locale: Locale) -> _MoneyShape | None:
    """The shape of Babel's own output for a probe amount (1,234,567 and a fraction), or None when
    the shape fails to reproduce Babel on `_SHAPE_CHECKS` (another grouping, digits other than
    ASCII, a minimum grouping size): such a locale is formatted by Babel every time."""
    precision = _precision(currency)
    fraction = "123"[:precision]
    probe = int("1234567" + fraction)
    texts = [_babel_money(probe, currency, locale), _babel_money(-probe, currency, locale)]
    parts = []
    for text in texts:
        found = [m.start() for m in _DIGITS.finditer(text)]
        if not found:
            return None
        parts.append((text[: found[0]], text[found[-1] + 1 :], text[found[0] : found[-1] + 1]))
    middle = parts[0][2]
    head, _, tail = middle.partition("234")  # "1" group "234" group "567" decimal fraction
    group = head[1:]
    if not group or head[:1] != "1" or not tail.startswith(group + "567") or not middle.endswith(fraction):
        return None
    decimal = tail[len(group) + 3 : len(tail) - precision]
    shape = _MoneyShape(parts[0][0], parts[0][1], parts[1][0], parts[1][1], group, decimal, precision)
    for major in _SHAPE_CHECKS:
        for minor in {0, int(fraction or 0)}:
            amount = major * 10**precision + (minor if major >= 0 else -minor)
            if shape.format(amount) != _babel_money(amount, currency, locale):
                return None
    return shape


@lru_cache(maxsize=4096)
def format_date(value: date, format: str, locale: Locale) -> str:
    """A date in the locale's `format` (short, medium, long). Memoised like format_money: the
    reminders of a batch share their sending day and most of their due dates."""
    return str(babel_format_date(value, format, locale=locale))


def paragraphs(text: str) -> list[str]:
    """Split template prose on blank lines; line breaks inside a paragraph are just spaces, so
    translators can wrap long sentences in the template source freely."""
    parts = _PARAGRAPH_BREAK.split(str(text).strip(" \t\r\n"))
    return [_WHITESPACE.sub(" ", p).strip(" ") for p in parts if p.strip(" \t\r\n")]


def _oneline(text: str) -> str:
    return _WHITESPACE.sub(" ", str(text)).strip(" ")


class ReminderRenderer:
    """Renders reminders. Build one per process and share it: the template environment, the
    compiled templates and the Babel locales are all made once, here, and reused (parsing a
    Locale per message costs about a quarter of the render time)."""

    def __init__(self, template_dir: Path | None = None) -> None:
        # A creditor's directory may override any file; what it lacks comes from ours.
        search = [TEMPLATE_DIR] if template_dir is None else [template_dir, TEMPLATE_DIR]
        self.search_path: tuple[Path, ...] = tuple(search)
        options: dict[str, Any] = {
            "loader": ChoiceLoader([FileSystemLoader(str(p)) for p in search]),
            "autoescape": _autoescape,
            "undefined": StrictUndefined,  # a misspelt variable fails instead of printing nothing
            "trim_blocks": True,
            "lstrip_blocks": True,
            "keep_trailing_newline": False,
            "auto_reload": False,  # templates are read once; no stat() per render
        }
        # Whatever a creditor wrote (an override, a template directory of its own) renders in the
        # sandbox; the templates shipped here are code like this module, and render without its
        # per-attribute checks (a fifth of an email's render time).
        self._sandbox = ImmutableSandboxedEnvironment(**options)
        self._env = self._sandbox if template_dir is not None else Environment(**options)  # noqa: S701
        for env in {self._sandbox, self._env}:
            env.filters["paragraphs"] = paragraphs
            env.filters["oneline"] = _oneline
        self._templates: dict[str, Template] = {}
        self._overrides: dict[str, Template] = {}  # creditors' templates, compiled once per source
        self._languages: dict[str, _Language] = {}
        self._locales = {code: Locale.parse(loc) for code, loc in LOCALES.items()}

    # -- public API ---------------------------------------------------------------------------

    def language_of(self, c: ReminderContent) -> str:
        """The language a reminder is written in: the debtor's, else the creditor's, else en."""
        return normalise_language(c.language, c.default_language)

    def email(self, c: ReminderContent, override: TemplateOverride | None = None) -> RenderedEmail:
        lang = self._language(self.language_of(c))
        view = self._view(c, lang)
        if override is not None and override.subject:
            subject = _oneline(self._render_override(override.subject, view, lang))
        else:
            subject = _oneline(lang.module.subject(view))
        intro = self._intro(override, view, lang)
        ctx = {"v": view, "t": lang.module, "subject": subject, "intro": intro}
        text = self._template("email/body.txt.j2").render(ctx).strip() + "\n"
        html = self._template("email/body.html.j2").render(ctx)
        return RenderedEmail(subject=subject, text=text, html=html, language=lang.code)

    def sms(self, c: ReminderContent, override: TemplateOverride | None = None) -> str:
        lang = self._language(self.language_of(c))
        view = self._view(c, lang)
        if override is not None:
            return sms_text(_oneline(self._render_override(override.body, view, lang)))
        # Written for SMS: the shortest wording that still says what, how much, by when, where to
        # pay and whom to call, tried from the fullest down until it fits two segments.
        template = self._template("sms/body.txt.j2")
        text = ""
        for variant in _sms_variants(c, view, lang):
            text = sms_text(template.render(v=variant, t=lang.module).strip())
            if sms_segments(text) <= MAX_SMS_SEGMENTS:
                return text
        return text

    def subject(self, c: ReminderContent) -> str:
        lang = self._language(self.language_of(c))
        return _oneline(lang.module.subject(self._view(c, lang)))

    def letter_text(self, c: ReminderContent, override: TemplateOverride | None = None) -> LetterText:
        if c.address is None:
            raise ValueError("a letter needs the debtor's postal address")
        lang = self._language(self.language_of(c))
        view = self._view(c, lang)
        m = lang.module
        return LetterText(
            language=lang.code,
            heading=_oneline(m.heading(view)),
            greeting=_oneline(m.greeting(view)),
            intro=self._intro(override, view, lang),
            closing=tuple(paragraphs(m.closing(view))),
            sign_off=_oneline(m.sign_off(view)),
            creditor_name=view["sender_name"],
            date=view["sent_on"],
            step=c.step,
            labels=lang.labels,
            claims=view["claims"],
            totals=view["totals"],
            common_reference=view["common_reference"],
            account=view["account"],
            payment_link=c.portal_link or c.payment_link,
            contact_phone=view["contact_phone"],
            address_lines=self._address_lines(c.address, lang),
            sender_line=view["sender_line"],
            pay_by=view["pay_by"],
            portal_link=c.portal_link,
            pay_rows=view["pay_rows"],
            pay_title=view["pay_title"],
            letterhead=tuple(view["letterhead"]),
            statement=tuple(view["statement"]),
            clauses=tuple(view["clauses"])
            + (
                (f"{lang.labels['legal_basis']}: {view['notice']['legal_basis']}",)
                if view["notice"]["legal_basis"]
                else ()
            ),
            sender_name=view["sender_name"],
        )

    def check_override(self, override: TemplateOverride, sample: ReminderContent) -> str:
        """Compile and render a creditor's template against a sample reminder; returns the
        rendered body, or raises TemplateInvalid (syntax, an unknown value, or anything the
        sandbox refuses, such as walking to `__class__` or `__globals__`)."""
        lang = self._language(self.language_of(sample))
        view = self._view(sample, lang)
        if override.subject:
            self._render_override(override.subject, view, lang)
        return self._render_override(override.body, view, lang)

    def resource(self, relative: str) -> Path:
        """A non-template file (a font) from the same search path as the templates."""
        for base in self.search_path:
            candidate = base / relative
            if candidate.is_file():
                return candidate
        raise FileNotFoundError(f"{relative} not found in {', '.join(map(str, self.search_path))}")

    # -- internals ----------------------------------------------------------------------------

    def _intro(self, override: TemplateOverride | None, view: dict[str, Any], lang: _Language) -> tuple[str, ...]:
        if override is None:
            return tuple(paragraphs(lang.module.intro(view)))
        return tuple(paragraphs(self._render_override(override.body, view, lang)))

    def _render_override(self, source: str, view: dict[str, Any], lang: _Language) -> str:
        try:
            template = self._compiled(source)
            return str(template.render(v=view, labels=lang.labels))
        except TemplateInvalid:
            raise
        except (TemplateError, TypeError, ValueError, AttributeError, LookupError, ArithmeticError) as exc:
            raise TemplateInvalid(f"{type(exc).__name__}: {exc}") from exc

    def _compiled(self, source: str) -> Template:
        if len(source) > MAX_TEMPLATE_CHARS:
            raise TemplateInvalid(f"a template may have at most {MAX_TEMPLATE_CHARS} characters")
        template = self._overrides.get(source)
        if template is None:
            try:
                template = self._sandbox.from_string(source)
            except TemplateError as exc:
                raise TemplateInvalid(f"{type(exc).__name__}: {exc}") from exc
            if len(self._overrides) > 1024:
                self._overrides.clear()
            self._overrides[source] = template
        return template

    def _template(self, name: str) -> Template:
        template = self._templates.get(name)
        if template is None:
            template = self._templates[name] = self._env.get_template(name)
        return template

    def _language(self, language: str) -> _Language:
        code = normalise_language(language)
        lang = self._languages.get(code)
        if lang is None:
            module: Any = self._template(f"lang/{code}.j2").module
            labels = dict(module.labels)
            # Added after the first translations: a language directory without it says "due date".
            labels.setdefault("pay_by", labels.get("due_date", "Pay by"))
            labels.setdefault("portal_link", labels.get("payment_link", "My pages"))
            labels.setdefault("portal", labels.get("payment_link", "My pages"))
            for key, english in PAYMENT_LABELS.items():
                labels.setdefault(key, english)
            missing = LABEL_KEYS - labels.keys()
            if missing:
                raise ValueError(f"lang/{code}.j2 labels lack {', '.join(sorted(missing))}")
            locale = self._locales[code]
            lang = self._languages[code] = _Language(
                code=code,
                locale=locale,
                module=module,
                labels=MappingProxyType({k: str(v) for k, v in labels.items()}),
                territories=dict(locale.territories),
            )
        return lang

    def _view(self, c: ReminderContent, lang: _Language) -> dict[str, Any]:
        """The values templates see: plain strings and tuples, nothing with behaviour."""
        loc = lang.locale

        def money(minor: int, currency: str) -> str:
            return format_money(minor, currency, loc)

        claims = tuple(
            FormattedClaim(
                invoice_no=cl.invoice_no,
                description=cl.description or None,
                due_date=format_date(cl.due_date, "medium", locale=loc),
                amount=money(cl.amount_minor, cl.currency),
                fees=money(cl.fees_minor, cl.currency),
                interest=money(cl.interest_minor, cl.currency),
                total=money(cl.total_minor, cl.currency),
                reference=cl.reference,
                has_fees=cl.fees_minor != 0,
                has_interest=cl.interest_minor != 0,
                paid=money(-cl.paid_minor, cl.currency),
                has_paid=cl.paid_minor != 0,
            )
            for cl in c.claims
        )
        # Totals per currency, in the order the currencies first appear: amounts in different
        # currencies are never added together.
        sums: dict[str, int] = {}
        for cl in c.claims:
            sums[cl.currency] = sums.get(cl.currency, 0) + cl.total_minor
        totals = tuple(money(minor, cur) for cur, minor in sums.items())
        references = {cl.reference for cl in c.claims}
        common_reference = next(iter(references)) if len(references) == 1 else None
        oldest = min(cl.due_date for cl in c.claims)
        payment = self._payment_view(c, lang, common_reference)
        facts = _notice_facts(c, lang, money)
        return {
            **payment,
            "lang": lang.code,
            "tone": c.tone,
            "step": c.step,
            "creditor_name": c.creditor_name,
            "contact_phone": c.creditor_contact_phone,
            "payment_link": c.portal_link or c.payment_link,
            "portal_link": c.portal_link,
            "debtor_name": c.debtor_name,
            "sent_on": format_date(c.sent_on, "long", locale=loc),
            "claims": claims,
            "first": claims[0],
            "several": len(claims) > 1,
            "first_due_long": format_date(c.claims[0].due_date, "long", locale=loc),
            "oldest_due": format_date(oldest, "medium", locale=loc),
            "totals": totals,
            "total_text": " + ".join(totals),
            "common_reference": common_reference or None,
            "any_reference": any(references),
            "pay_by": format_date(c.pay_by, "long", locale=loc) if c.pay_by else None,
            **facts,
        }

    def view(self, c: ReminderContent) -> dict[str, Any]:
        """The values a template sees, for a reminder (previews, samples, tests)."""
        lang = self._language(self.language_of(c))
        return self._view(c, lang)

    def required_text(self, c: ReminderContent) -> dict[str, str]:
        """Per element its notice kind requires, the text that carries it in this reminder (a test
        checks every required element is there, in every language)."""
        lang = self._language(self.language_of(c))
        v = self._view(c, lang)
        return dict(v["element_texts"])

    @staticmethod
    def _payment_view(c: ReminderContent, lang: _Language, common_reference: str | None) -> dict[str, Any]:
        """The payment section: an Icelandic claim sits in the payer's netbank (creditor's
        kennitala and the claim's number, nothing to type); a KID or reference number goes with
        the creditor's account in the country's format; anything else as reference and account."""
        labels = lang.labels
        payments = [cl.payment for cl in c.claims]
        kinds = {p.kind if p else "rf" for p in payments}
        kind = kinds.pop() if len(kinds) == 1 else "mixed"
        account = c.creditor_account
        rows: list[tuple[str, str]] = []
        claim_numbers: tuple[str, ...] = ()
        claimant = ""
        if kind == "bank_claim":
            claimant = format_kennitala(next(p.claimant_id for p in payments if p and p.claimant_id) or "")
            claim_numbers = tuple(_claim_number(p) for p in payments if p)
            rows = [
                (labels["payee"], c.creditor_name),
                (labels["claimant"], claimant),
                (labels["claim_no"], ", ".join(claim_numbers)),
            ]
        else:
            label = {"kid": "kid", "reference_number": "reference_number"}.get(kind, "reference")
            account = format_account(account, kind)
            rows = [(labels["payee"], c.creditor_name)]
            if account:  # a creditor with no account on record: no empty "Account:" line
                rows.append((labels["iban" if kind == "reference_number" else "account"], account))
            if common_reference:
                rows.append((labels[label], common_reference))
            elif any(cl.reference for cl in c.claims):
                rows.append((labels[label], labels["reference_each"]))
        return {
            "payment_kind": kind,
            "netbank": kind == "bank_claim",
            "netbank_text": labels["netbank"],
            "claimant": claimant,
            "claim_numbers": claim_numbers,
            "account": account,
            "pay_rows": tuple(rows),
            "pay_title": labels["slip"],
        }

    @staticmethod
    def _address_lines(address: PostalAddress, lang: _Language) -> tuple[str, ...]:
        country = address.country.upper()
        lines = [address.name, *address.lines]
        if country in _POSTCODE_LAST:
            lines += [address.city.upper(), address.postcode]
        else:
            lines.append(f"{address.postcode} {address.city}")
        if _HOME_COUNTRY.get(lang.code) != country:
            # Posted abroad: the destination country last, in capitals (UPU convention).
            lines.append(lang.territories.get(country, country).upper())
        return tuple(line.strip() for line in lines if line.strip())


def _autoescape(name: str | None) -> bool:
    # HTML templates escape everything they print; text templates (email text, SMS, letter
    # prose) must not, or a debtor named "Ásta & Jón" would get "&amp;".
    return name is not None and name.endswith((".html.j2", ".html"))


# Elements whose words the language file's `clause` macro supplies (a sentence each); the others
# are values the layout shows (krafa_law.notices.Element).
CLAUSES: Final = (
    "consequence_collection",
    "consequence_legal",
    "notice_fee",
    "objection_right",
    "tribunal",
    "claim_watch_terms",
)


def _notice(c: ReminderContent) -> Any:
    """The notice kind in its jurisdiction's pack, or None (a plain reminder)."""
    if not c.notice_kind or not c.jurisdiction:
        return None
    from krafa_law import packs

    try:
        return packs.jurisdiction(c.jurisdiction).notice_kinds.get(c.notice_kind)
    except (KeyError, ValueError):
        return None


def _address_text(address: PostalAddress | None) -> str:
    if address is None:
        return ""
    parts = [*address.lines, f"{address.postcode} {address.city}".strip()]
    return ", ".join(p for p in parts if p.strip())


def _notice_facts(c: ReminderContent, lang: _Language, money: Any) -> dict[str, Any]:
    """What a legal notice shows beyond the prose: who sends it (the creditor, or the agency after
    handover) with registry id and address, the ledger's lines, how a local payer pays, the rate,
    and the sentences its kind requires. Every value formatted for the reader's locale."""
    labels, module, loc = lang.labels, lang.module, lang.locale
    notice = _notice(c)
    titles = dict(getattr(module, "titles", {}) or {})
    kind = c.notice_kind or ""
    title = titles.get(kind) or (notice.name.get(lang.code) or notice.name.get("en") if notice else "") or ""
    by_agency = c.agency is not None and (notice is not None and notice.sender == "agency")
    sender_name = c.agency.name if by_agency and c.agency else (c.creditor_sender_name or c.creditor_name)
    sender_id = (c.agency.registration_no if by_agency and c.agency else c.creditor_registration_no) or ""
    sender_address = c.agency.address if by_agency and c.agency else c.creditor_address
    sender_phone = (c.agency.phone if by_agency and c.agency and c.agency.phone else c.creditor_contact_phone) or ""
    id_label = labels.get(f"registration_no_{(c.jurisdiction or '').lower()}") or labels["registration_no"]
    letterhead = [
        line
        for line in (
            f"{id_label} {sender_id}" if sender_id else "",
            _address_text(sender_address),
            f"{labels['phone']}: {sender_phone}" if sender_phone else "",
        )
        if line
    ]
    if not by_agency and sender_name != c.creditor_name:
        # Sent in a trading name: the letter still names the creditor as registered.
        letterhead.insert(0, c.creditor_name)
    if by_agency:
        creditor = c.creditor_name + (
            f", {id_label} {c.creditor_registration_no}" if c.creditor_registration_no else ""
        )
        letterhead.append(f"{labels['on_behalf_of']}: {creditor}")
    # The return line in the envelope window: the sender's postal address, else its phone.
    back = _address_text(sender_address)
    sender_line = f"{sender_name}, {back}" if back else " · ".join(p for p in (sender_name, sender_phone) if p.strip())

    fee_names = dict(getattr(module, "fee_names", {}) or {})

    def day(d: date | None) -> str:
        return format_date(d, "short", locale=loc) if d else ""

    def pct(rate: Decimal) -> str:
        return str(format_decimal(rate, "#,##0.00", locale=loc)) + "\u00a0%"

    statement: list[tuple[str, str]] = []
    interest_from: date | None = None
    rate = c.interest_rate_pct
    several = len(c.claims) > 1
    for cl in c.claims:
        prefix = f"{cl.invoice_no}: " if several else ""
        if not cl.entries:
            # Only totals known (a preview of made-up claims): one line per component owed.
            parts = [
                (labels["principal"], cl.amount_minor),
                (labels["fees"], cl.fees_minor),
                (labels["interest"], cl.interest_minor),
                (labels["payment_received"], -cl.paid_minor),
            ]
            statement += [(prefix + what, money(minor, cl.currency)) for what, minor in parts if minor]
        for e in cl.entries:
            amount = money(e.amount_minor, cl.currency)
            if e.kind == "principal":
                what = labels["principal"]
            elif e.kind == "interest":
                interest_from = min(filter(None, (interest_from, e.interest_from)), default=None)
                rate = e.rate_pct if e.rate_pct is not None else rate
                span = day(e.booked_on)
                if e.interest_from and e.interest_to:
                    span = f"{day(e.interest_from)}–{day(e.interest_to)}"
                at_rate = f"{pct(e.rate_pct)}, " if e.rate_pct is not None else ""
                what = f"{labels['interest']} {at_rate}{span}"
            elif e.kind == "payment":
                what = f"{labels['payment_received']} {day(e.booked_on)}"
            elif e.kind == "write_off":
                what = labels["written_off"]
            else:
                what = f"{fee_names.get(e.fee_kind or '', labels['fees'])} {day(e.booked_on)}"
            statement.append((prefix + what, amount))
    group = NOTICE_GROUPS.get(kind) or {"collection": "collection", "watch": "watch"}.get(
        notice.stage if notice else "", {"final": "warning"}.get(c.tone, "courtesy")
    )
    view_facts: dict[str, Any] = {
        "notice": {
            "kind": kind,
            "group": group,
            "title": title,
            "stage": notice.stage if notice else None,
            "by_agency": by_agency,
            "legal_basis": (notice.legal_basis or "") if notice else "",
            "min_days_to_pay": notice.min_days_to_pay if notice else None,
        },
        "sender_name": sender_name,
        "sender_line": sender_line,
        # Whom the debtor calls: the agency once it collects, else the creditor.
        "contact_phone": sender_phone,
        "letterhead": letterhead,
        "creditor_registration_no": c.creditor_registration_no,
        "agency_name": c.agency.name if c.agency else "",
        "agency_registration_no": c.agency.registration_no if c.agency else "",
        "statement": statement,
        "interest_rate": pct(rate) if rate is not None else None,
        "interest_from": format_date(interest_from, "long", locale=loc) if interest_from else None,
    }
    required = sorted(notice.required) if notice else []
    clause_macro = getattr(module, "clause", None)
    clauses: list[str] = []
    view_facts["clauses"] = clauses
    view_facts["required"] = required
    view_facts["element_texts"] = {}
    if clause_macro is not None:
        for key in CLAUSES:
            if key in required:
                text = _oneline(clause_macro(view_facts | {"lang": lang.code}, key))
                if not text:
                    raise ValueError(f"lang/{lang.code}.j2 has no text for {key} ({kind})")
                clauses.append(text)
                view_facts["element_texts"][key] = text
    return view_facts


MAX_SMS_SEGMENTS: Final = 2
# Typography an SMS must not carry: each would force the whole message into UCS-2 (70 characters a
# segment instead of 160). Babel puts no-break spaces inside amounts ("10.390\xa0kr.").
_SMS_PLAIN: Final = str.maketrans(
    {
        "\u00a0": " ",
        "\u202f": " ",
        "\u2009": " ",
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2026": "...",
    }
)


def sms_text(text: str) -> str:
    """An SMS body as sent: one line, the typographic characters GSM 03.38 lacks made plain."""
    return _oneline(text.translate(_SMS_PLAIN))


def sms_segments(text: str) -> int:
    from krafa_notifier.sms import count_segments

    return count_segments(text).segments


def _sms_variants(c: ReminderContent, view: dict[str, Any], lang: _Language) -> list[dict[str, Any]]:
    """The SMS's values, fullest first: with the invoice number, the notice's name and the
    sender's full name; then without the invoice number, with the sender's first word, with the
    notice's first word, and the sender alone. Amount, pay-by date, where to pay and the phone
    number are in every variant."""
    loc = lang.locale
    sums: dict[str, int] = {}
    for cl in c.claims:
        sums[cl.currency] = sums.get(cl.currency, 0) + cl.total_minor
    total = " + ".join(format_money(minor, cur, loc) for cur, minor in sums.items())
    title = str(view["notice"]["title"] or _oneline(lang.module.heading(view)))
    short_title = title.split(" (")[0]
    # The claim in the netbank (creditor's id and claim number), account and KID, IBAN and
    # reference number: as the country pays; the payee (the first row) is the sender already.
    details = " ".join(f"{label} {value}." for label, value in view["pay_rows"][1:])
    base = {
        **view,
        "sms_count": len(c.claims),
        # A sentence that ends in an abbreviation ("10.000 kr.") takes no second full stop.
        "sms_total": total[:-1] if not c.pay_by and total.endswith(".") else total,
        "sms_pay_by": format_date(c.pay_by, "short", locale=loc) if c.pay_by else "",
        "sms_pay": c.payment_link or details,
    }
    sender = str(view["sender_name"])
    first_word = sender.split(" ")[0]
    heads = [
        f"{short_title} - {sender}",
        f"{short_title} - {first_word}",
        f"{short_title.split(' ')[0]} - {first_word}",
        first_word,
    ]
    variants = [{**base, "sms_short": False, "sms_head": heads[0]}]
    variants += [{**base, "sms_short": True, "sms_head": head} for head in heads]
    return variants
