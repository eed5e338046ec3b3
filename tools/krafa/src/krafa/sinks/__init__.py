"""Local stand-ins for the outside world: real servers on 127.0.0.1 speaking real protocols.

``krafa.sinks.smtp_catcher`` plays the debtors' mail servers (and bounces like a real MTA),
``krafa.sinks.provider_sink`` plays the SMS, print-and-post and netbank providers. Each runs as
its own process under ``krafa run`` and announces itself with one stdout line,
``READY <kind> <host>:<port>``, once it accepts connections. Both are importable for in-process
tests.

Deliberately no re-exports here: ``python -m krafa.sinks.smtp_catcher`` imports this package
first, and pulling the submodules in from here would make runpy warn about executing a module
that is already imported (and would drag FastAPI into the SMTP process).
"""
