"""The Icelandic banks' claims interface (IOBWS 3.2 Claims, ÍST TS 315) as Krafa uses it: our own
OpenAPI description of that subset (claims-3.2-subset.yaml) and `contract`, which checks a
request or response against it. The client lives in payments-ingest, the bank sink in tools/krafa;
both check every message with `contract`."""
