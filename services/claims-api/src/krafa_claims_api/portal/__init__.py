"""What a debtor may do for themselves in the portal: the creditor's self-service terms, and
arrangement requests (deferral, instalments) beyond them that the creditor decides."""
