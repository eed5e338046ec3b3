from prometheus_client import Counter, Histogram

REMINDERS_SENT = Counter("krafa_reminders_sent_total", "Reminders handed to a channel", ["channel", "step", "kind"])
DELIVERY_FAILURES = Counter("krafa_delivery_failures_total", "Delivery attempts that failed", ["channel", "outcome"])
DELIVERIES_DROPPED = Counter(
    "krafa_deliveries_dropped_total", "Reminders not sent because every claim was closed", ["reason"]
)
SEND_SECONDS = Histogram(
    "krafa_send_seconds",
    "Time to render and hand one message to its channel",
    ["channel"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
SENDS_FENCED = Counter(
    "krafa_sends_fenced_total",
    "Sends stopped at the fence: a stop or bounce committed between preparing a message and sending it",
)
SENDS_WAITING_FOR_STOPS = Counter(
    "krafa_sends_waiting_for_stops_total",
    "Sends that waited because the stops lane was behind its topics (starting, rejoining, broker away)",
)
