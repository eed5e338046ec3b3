"""Icelandic bank claims: for a creditor with a claim bank, each claim of a debtor with a kennitala
is created in the payer's netbank through the banks' claims interface (IOBWS 3.2 Claims) and kept
equal to the ledger's balance; payments the bank reports become PaymentReceived, once each.

domain.py: the claim as the bank holds it (pure); repository.py: its SQL; client.py: the IOBWS
client (OAuth2 client credentials); service.py: the use cases (from events, the sync of each claim
to the bank, the poll of the bank's payments); worker.py: the two loops that run them."""
