"""The KPIs of payments-ingest, beside the kit's generic HTTP and consumer metrics."""

from prometheus_client import Counter, Histogram

PAYMENTS_IMPORTED = Counter(
    "krafa_payments_imported_total", "New payments recorded from bank files (duplicates excluded)", ["format"]
)
PAYMENTS_DUPLICATE = Counter(
    "krafa_payments_duplicate_total", "Bank entries skipped because they were imported before", ["format"]
)
PAYMENTS_MATCHED = Counter("krafa_payments_matched_total", "New payments matched to a claim")
PAYMENTS_UNMATCHED = Counter("krafa_payments_unmatched_total", "New payments left for the operator queue", ["reason"])
# A Counter only goes up, so corrections (negative entries) are counted apart, as their absolute value.
PAYMENT_AMOUNT = Counter(
    "krafa_payment_amount_minor_total", "Sum of new payments in minor units", ["currency", "direction"]
)
IMPORT_SECONDS = Histogram(
    "krafa_payment_import_duration_seconds",
    "Time to parse, record and match one bank file",
    ["format"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
CARD_FAILURES = Counter(
    "krafa_card_instalment_failures_total", "New card instalment failures (CardInstalmentFailed)", ["currency"]
)
BANK_CLAIM_CALLS = Counter(
    "krafa_bank_claim_calls_total",
    "Calls to the banks' claims interface by operation and outcome (ok, transient, refused)",
    ["operation", "outcome"],
)
BANK_CLAIM_PAYMENTS = Counter(
    "krafa_bank_claim_payments_total", "Payments the claims interface reported, new ones only", ["kind"]
)
BANK_CLAIM_SYNC_SECONDS = Histogram(
    "krafa_bank_claim_sync_duration_seconds",
    "Time to bring one claim at the bank to what Krafa wants (create, amend, cancel)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
