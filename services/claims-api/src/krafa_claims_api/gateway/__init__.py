"""A creditor's reads of what the notifier and the scheduler own — its templates, previews of its
notices, its policies and the schedule dry run of its claims — served by claims-api with the
creditor's own API key (docs/adr/0013-claims-api-serves-creditors-reads.md). claims-api checks the
claim is the caller's, then asks the owner over its internal API with the operator token and the
creditor it verified; the owner renders or plans, and nothing is copied."""
