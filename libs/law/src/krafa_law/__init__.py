"""krafa_law: the law every service applies the same way — jurisdiction packs (legal notice kinds,
fees and their caps, dated late-interest rates), each jurisdiction's calendar (holidays, half
days, business-day deadlines) and the sending and calling windows. Pure: no I/O beyond reading
the shipped packs once.

    pack = krafa_law.jurisdiction("IS")
    cal = krafa_law.calendar(pack, debtor_country)
    krafa_law.windows.next_window(pack, cal, (Channel.SMS,), now, tz)
    cal.deadline(sent_on, pack.notice("innheimtuvidvorun").min_days_to_pay)
"""

from krafa_law import rates, windows
from krafa_law.calendar import Calendar, calendar, holiday_country
from krafa_law.calendar import preload as calendar_preload
from krafa_law.notices import ELEMENTS, Element
from krafa_law.packs import (
    CallRetry,
    ChannelWindows,
    Dated,
    FeeCap,
    FeeRule,
    Jurisdiction,
    NoticeKind,
    RateRow,
    dated_value,
    jurisdiction,
    jurisdictions,
)

__all__ = [
    "ELEMENTS",
    "Calendar",
    "CallRetry",
    "ChannelWindows",
    "Dated",
    "Element",
    "FeeCap",
    "FeeRule",
    "Jurisdiction",
    "NoticeKind",
    "RateRow",
    "calendar",
    "calendar_preload",
    "dated_value",
    "holiday_country",
    "jurisdiction",
    "jurisdictions",
    "rates",
    "windows",
]
