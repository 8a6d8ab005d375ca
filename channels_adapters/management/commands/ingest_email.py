"""`python manage.py ingest_email`: one RFC 5322 message on standard input, as an MTA's pipe delivers it.

Exit 0 once stored (or already stored); otherwise a one-line reason on standard error and a non-zero exit:
65 (EX_DATAERR) for a message the hub refuses, 75 (EX_TEMPFAIL) when it cannot store now, so the MTA retries.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import DatabaseError

EX_DATAERR = 65
EX_TEMPFAIL = 75


class Command(BaseCommand):
    help = "Store one email read from standard input (for an MTA's pipe transport, e.g. Postfix's pipe)."
    # One process per message: the system checks (which import every URL and view) would cost most of its time.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--recipient",
            default="",
            help="the envelope recipient (Postfix: ${recipient}), to pick the inbox",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from django.conf import settings

        from channels_adapters.email.services import EmailRefused, email_store

        # Standard error is what the MTA puts in its bounce: one line, the reason, nothing else.
        logging.disable(logging.CRITICAL)
        raw = sys.stdin.buffer.read(settings.EMAIL_MAX_BYTES + 1)
        try:
            event, created = email_store(raw=raw, source="mta", envelope_recipient=options["recipient"])
        except EmailRefused as error:
            self._fail(f"refused: {error.message}", EX_DATAERR)
        except DatabaseError as error:
            self._fail(
                f"cannot store the message now, try again later ({error.__class__.__name__})", EX_TEMPFAIL
            )
        if options["verbosity"] > 1:
            self.stdout.write(f"{'stored' if created else 'already stored'} as inbound event {event.pk}")

    def _fail(self, reason: str, code: int) -> None:
        sys.stderr.write(f"ingest_email: {' '.join(reason.split())}\n")
        sys.stderr.flush()
        raise SystemExit(code)
