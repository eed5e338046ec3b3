"""Debtors of a creditor: master data, contact points, contact-list uploads, credit status and GDPR."""
