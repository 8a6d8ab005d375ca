"""`manage.py retention [--apply]`: count what the retention policies would remove; remove it with --apply."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from privacy.models import RetentionPolicy
from privacy.services import retention_run


class Command(BaseCommand):
    help = "Count (the default: a dry run) or remove (--apply) what the retention policies no longer keep."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--apply", action="store_true", help="Remove it (audited); without: only count")

    def handle(self, *args: Any, **options: Any) -> None:
        policies = list(RetentionPolicy.objects.filter(enabled=True))
        if not policies:
            self.stdout.write("No retention policy is set (admin: Privacy → Retention policies).")
            return
        counts = retention_run(dry_run=not options["apply"])
        verb = "Removed" if options["apply"] else "Would remove"
        for policy in policies:
            self.stdout.write(
                f"{verb} {counts.get(policy.kind, 0)} {policy.kind} (older than {policy.days} days)"
            )
