"""`krafa webhooks given-up` and `krafa webhooks recover`: the operators' side of creditor webhooks.

Claims-api gives a delivery up after its last retry (about 27.5 hours) and lists every creditor's
given-up deliveries on its operator API; once the creditor's endpoint answers again, an operator
queues them again (each keeps its webhook-id, so the creditor can drop one it already has). This
module is the command line around those two routes: which claims-api, which token, the output.
"""

from __future__ import annotations

import argparse
import json
from typing import Any
from uuid import UUID

from krafa import targets
from krafa.targets import EXIT_USAGE, CliError

TARGET = (
    "claims-api: --url, --stack DIR, KRAFA_CLAIMS_API_URL, or else the running local stack in $KRAFA_HOME or "
    "./.krafa; the operator token: --token, KRAFA_OPERATOR_TOKEN, or the local stack's own."
)


def claims_api_url(args: argparse.Namespace) -> str:
    """The target every operator write command resolves alike (recover writes): --url, else
    --stack's claims-api, else $KRAFA_CLAIMS_API_URL, else the local stack `krafa run` keeps in
    $KRAFA_HOME or ./.krafa — a stack only while it runs; never a default port."""
    return targets.write_service_url(args, "claims-api")


def _headers(args: argparse.Namespace, url: str) -> dict[str, str]:
    token = targets.operator_token(args, url)
    return {"Authorization": f"Bearer {token}"} if token else {}


def cmd_given_up(args: argparse.Namespace) -> int:
    import httpx

    from krafa.cli import http_failure

    url = claims_api_url(args)
    params: dict[str, str | int] = {"limit": args.limit}
    if args.creditor:
        params["creditor_id"] = str(args.creditor)
    if args.endpoint:
        params["endpoint_id"] = str(args.endpoint)
    if args.since:
        params["since"] = args.since.isoformat()
    response = httpx.get(
        url + "/v1/operator/webhooks/given-up", params=params, headers=_headers(args, url), timeout=args.timeout
    )
    if response.status_code >= 400:
        raise http_failure(response, "claims-api refused the list of given-up deliveries")
    listing: dict[str, Any] = response.json()
    if args.json:
        print(json.dumps(listing, indent=2, ensure_ascii=False))
        return 0
    items = listing["items"]
    total = listing["total"]
    shown = f" (the newest {len(items)} shown; --limit for more)" if total > len(items) else ""
    print(f"{total} given-up deliver{'ies' if total != 1 else 'y'}{shown}")
    for d in items:
        answer = d["last_status_code"] if d["last_status_code"] is not None else (d["last_error"] or "no answer")
        disabled = "  (endpoint disabled: cannot be recovered)" if d["endpoint_disabled"] else ""
        print(
            f"  {d['id']}  {d['created_at']}  {d['event_type']}  {d['creditor_name']}  after {d['attempts']} attempts"
            f", last {answer}{disabled}"
        )
        print(f"      endpoint {d['endpoint_id']}  {d['url']}")
    return 0


def cmd_recover(args: argparse.Namespace) -> int:
    import httpx

    from krafa.cli import http_failure

    if args.since is not None and not args.all:
        raise CliError("--since goes with --all (a named --delivery is sent again whatever its age)", EXIT_USAGE)
    url = claims_api_url(args)
    body: dict[str, str] = {}
    if args.delivery is not None:
        body["delivery_id"] = str(args.delivery)
    if args.since is not None:
        body["since"] = args.since.isoformat()
    response = httpx.post(
        f"{url}/v1/operator/webhooks/{args.webhook_id}/recover",
        json=body,
        headers=_headers(args, url),
        timeout=args.timeout,
    )
    if response.status_code >= 400:
        raise http_failure(response, f"claims-api refused to recover endpoint {args.webhook_id}")
    requeued = int(response.json()["requeued"])
    if args.json:
        print(json.dumps({"requeued": requeued}))
    else:
        print(f"{requeued} deliver{'ies' if requeued != 1 else 'y'} queued again, each with a fresh retry schedule")
    return 0


def uuid_value(text: str) -> UUID:
    """An argparse type: a UUID."""
    try:
        return UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a UUID") from None


def add_commands(sub: Any) -> None:
    from krafa.cli import iso_time

    webhooks = sub.add_parser(
        "webhooks", help="creditors' webhook deliveries: list those given up, send them again"
    ).add_subparsers(dest="action", required=True)

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--url", default=None, help="claims-api's base URL (http://...)")
        targets.add_stack_option(parser)
        parser.add_argument(
            "--token", default=None, help="the operator token (default: KRAFA_OPERATOR_TOKEN or the stack's)"
        )
        parser.add_argument("--json", action="store_true", help="claims-api's answer as JSON")
        parser.add_argument("--timeout", type=float, default=30, help="seconds to wait for claims-api (default 30)")

    given_up = webhooks.add_parser(
        "given-up",
        help="deliveries given up after their last retry, across creditors, newest first",
        description="Lists what claims-api gave up delivering (about 27.5 hours of retries): the delivery, its "
        "creditor, endpoint, event and the endpoint's last answer. " + TARGET,
    )
    common(given_up)
    given_up.add_argument("--creditor", type=uuid_value, default=None, help="only this creditor's (its id)")
    given_up.add_argument("--endpoint", type=uuid_value, default=None, help="only this webhook endpoint's (its id)")
    given_up.add_argument(
        "--since", type=iso_time, default=None, help="only deliveries created at or after this ISO 8601 time"
    )
    given_up.add_argument(
        "--limit", type=int, default=100, help="show at most this many, newest first (1-500, default 100)"
    )
    given_up.set_defaults(func=cmd_given_up)

    recover = webhooks.add_parser(
        "recover",
        help="send again one or every given-up delivery of a webhook endpoint",
        description="Queues the given-up deliveries of endpoint ID again once it answers: each keeps its "
        "webhook-id (the creditor drops a copy it already has) and starts the retry schedule afresh; "
        "deliveries still being retried are not touched; a disabled endpoint is refused. " + TARGET,
    )
    recover.add_argument("webhook_id", type=uuid_value, metavar="ID", help="the webhook endpoint's id")
    which = recover.add_mutually_exclusive_group(required=True)
    which.add_argument("--delivery", type=uuid_value, default=None, help="only this given-up delivery (its id)")
    which.add_argument("--all", action="store_true", help="every given-up delivery of the endpoint")
    recover.add_argument(
        "--since", type=iso_time, default=None, help="with --all: only those created at or after this ISO 8601 time"
    )
    common(recover)
    recover.set_defaults(func=cmd_recover)
