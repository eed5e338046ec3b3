"""The live terminal view of `krafa run`: simulated time, the flow of events and what reached
the outside world (mail server, print provider)."""

from __future__ import annotations

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from krafa.observer import Observer
from krafa.stack import Stack

ROWS = (
    ("claims created", "ClaimCreated"),
    ("due dates passed", "DueDatePassed"),
    ("reminders due", "ReminderDue"),
    ("reminders sent", "ReminderSent"),
    ("emails bounced", "EmailBounced"),
    ("delivery failures", "DeliveryFailed"),
    ("payments matched", "PaymentReceived"),
    ("payments unmatched", "PaymentUnmatched"),
    ("claims paid", "ClaimPaid"),
)


def render(stack: Stack, observer: Observer, status: str) -> Group:
    header = Text.assemble(
        ("Krafa ", "bold magenta"),
        ("embedded pipeline   ", "dim"),
        ("simulated time ", "dim"),
        (stack.sim_now().strftime("%a %Y-%m-%d %H:%M"), "bold cyan"),
        ("   API docs ", "dim"),
        (stack.url("claims-api") + "/docs", "underline"),
    )
    counts = Table(show_header=True, header_style="bold", expand=False, box=None, padding=(0, 2))
    counts.add_column("events")
    counts.add_column("count", justify="right")
    for label, name in ROWS:
        counts.add_row(label, str(observer.counts[name]))
    counts.add_row("", "")
    counts.add_row("  by email", str(observer.sent_by_channel["email"]))
    counts.add_row("  by letter", str(observer.sent_by_channel["letter"]))
    counts.add_row("  letters after a bounce", str(observer.fallback_letters))
    mail = stack.spool / "mail" / "new"
    prints = stack.spool / "providers" / "print"
    outside = Table(show_header=True, header_style="bold", box=None, padding=(0, 2))
    outside.add_column("outside world")
    outside.add_column("", justify="right")
    outside.add_row("emails at the mail server", str(sum(1 for _ in mail.glob("*.eml")) if mail.exists() else 0))
    dsn = stack.spool / "mail" / "dsn"
    outside.add_row("bounce messages (DSN) sent", str(sum(1 for _ in dsn.glob("*.eml")) if dsn.exists() else 0))
    outside.add_row(
        "letters at the print provider", str(sum(1 for _ in prints.glob("*.pdf")) if prints.exists() else 0)
    )
    feed = Text("\n".join(observer.feed) or "waiting for events…", style="white")
    grid = Table.grid(padding=(0, 4))
    grid.add_row(counts, outside)
    return Group(
        Panel(header),
        grid,
        Panel(feed, title="latest events", title_align="left"),
        Text(status, style="dim"),
    )
