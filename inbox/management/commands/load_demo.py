"""Demo data for a first five minutes: teams, two business numbers, an admin login, customers with histories."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from channels_adapters.inbound import inbox_default
from channels_adapters.models import TwilioAccount
from contacts.addresses import EXTERNAL, site_scope
from contacts.models import Identity
from contacts.services import contact_resolve
from conversations.models import AgentProfile, Conversation, Entry, Inbox, Team
from conversations.services import (
    conversation_assign,
    conversation_get_or_create,
    conversation_set_status,
    entry_append,
    note_add,
)
from lifecycle.models import Stage

DEMO_USERNAME = "alex"
DEMO_SHOP_USER_ID = "shop-user-1001"  # Dana's id on the demo shop's site


class Command(BaseCommand):
    help = "Load demo data once (a later run only prints the login)."

    def handle(self, *args: Any, **options: Any) -> None:
        from channels_adapters.whatsapp_templates import templates_sync_all

        login_file = settings.VAR_DIR / "demo-login.txt"
        if User.objects.filter(username=DEMO_USERNAME).exists():
            templates_sync_all()  # the inboxes' WhatsApp templates (the sandbox's demo ones), before the first hour
            self._print_login(login_file.read_text().strip() if login_file.exists() else None)
            return
        password = secrets.token_urlsafe(9)
        with transaction.atomic():
            self._load(password)
        templates_sync_all()
        settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
        login_file.write_text(f"{DEMO_USERNAME} {password}\n")
        login_file.chmod(0o600)
        self._print_login(f"{DEMO_USERNAME} {password}")

    def _print_login(self, line: str | None) -> None:
        base = settings.PUBLIC_BASE_URL
        if line:
            username, _, password = line.partition(" ")
            self.stdout.write(
                self.style.SUCCESS(
                    f"\n  Demo login at {base}/accounts/login/  username: {username}  password: {password}\n"
                    f"  Send yourself a text: .venv/bin/python manage.py simulate_sms --from '+1 415 555 0142' "
                    f"--body 'Hello!'\n"
                    f"  Call yourself: .venv/bin/python manage.py simulate_call --from '+1 415 555 0142' "
                    f"--voicemail 'Please call me back'\n"
                    f"  Chat with yourself: python3 -m http.server 8080 -d {settings.VAR_DIR / 'webchat-demo'} "
                    f"and open http://127.0.0.1:8080/\n"
                )
            )
        else:
            self.stdout.write(
                f"Demo data is loaded; reset the login with: python manage.py changepassword {DEMO_USERNAME}"
            )

    def _load(self, password: str) -> None:
        now = timezone.now()
        support = Team.objects.create(name="Support")
        sales = Team.objects.create(name="Sales")
        account = TwilioAccount.objects.create(
            name="Sandbox (signs simulate_sms, sends nothing)",
            account_sid="AC" + secrets.token_hex(16),
            auth_token=secrets.token_hex(16),
            is_sandbox=True,
        )
        support_line = Inbox.objects.create(
            name="Support line",
            kind=Inbox.PHONE,
            address="+14155550100",
            team=support,
            twilio_account=account,
            whatsapp_enabled=True,
        )
        sales_line = Inbox.objects.create(
            name="Sales line", kind=Inbox.PHONE, address="+14155550199", team=sales, twilio_account=account
        )
        # Email to this address (`manage.py ingest_email --recipient support@shoes.example < message.eml`)
        # lands here; replies go to the sandbox until EMAIL_HOST or an ESP is configured.
        Inbox.objects.create(
            name="Support email", kind=Inbox.EMAIL, address="support@shoes.example", team=support
        )
        inbox_default()
        # Web chat: a page served from another port on this machine may embed the widget
        # (`python -m http.server 8080` in a folder with an HTML file holding the snippet).
        webchat = Inbox.objects.create(
            name="Shoes web chat",
            kind=Inbox.WEBCHAT,
            team=support,
            allowed_origins=[f"http://{h}:{p}" for h in ("127.0.0.1", "localhost") for p in (8080, 5500)],
            widget_greeting="Hi! Questions about sizes, orders or returns? Ask away.",
            identity_secret=secrets.token_urlsafe(24),
        )

        alex = self._user(DEMO_USERNAME, "Alex", "Rivera", password, AgentProfile.ADMIN, [support, sales])
        sam = self._user("sam", "Sam", "Lee", secrets.token_urlsafe(12), AgentProfile.AGENT, [support])
        self._user("maria", "Maria", "Gomez", secrets.token_urlsafe(12), AgentProfile.MANAGER, [])
        # Phones that incoming calls ring and click-to-call dials first (the sandbox rings nobody).
        AgentProfile.objects.filter(user=alex).update(phone="+14155550161")
        AgentProfile.objects.filter(user=sam).update(phone="+14155550162")

        # Dana: texted, got an answer, called, emailed; the latest message is waiting for an answer.
        dana = self._thread("+1 415 555 0142", "Dana Whitaker")
        self._message(
            dana, "sms", support_line, "Hi! Is the blue trail runner back in size 9?", now - timedelta(days=3)
        )
        self._message(
            dana,
            "sms",
            support_line,
            "Hi Dana, it is! Want me to hold a pair for you?",
            now - timedelta(days=3, minutes=-12),
            author=alex,
        )
        entry_append(
            conversation=dana,
            kind=Entry.CALL,
            direction=Entry.INBOUND,
            channel=Entry.VOICE,
            inbox=support_line,
            body="Call answered by Sam Lee, 4 min. Asked about returns.",
            created_at=now - timedelta(days=2),
            data={
                "duration_s": 240,
                "call_status": "completed",
                "call_outcome": "answered",
                "answered_by": sam.pk,
                "answered_by_name": "Sam Lee",
                "call_label": "Answered by Sam Lee · 4:00",
            },
        )
        entry_append(
            conversation=dana,
            kind=Entry.MESSAGE,
            direction=Entry.INBOUND,
            channel=Entry.EMAIL,
            subject="Order #4417",
            body="Hi, I ordered the blue runners yesterday. Can I still add socks?",
            created_at=now - timedelta(hours=20),
            from_address="dana@example.com",
        )
        note_add(
            conversation=dana, author=sam, body="Dana is a repeat customer; offered free socks last time."
        )
        conversation_assign(conversation=dana, assignee=sam, by=alex)
        self._message(
            dana, "sms", support_line, "Also, does the order ship today?", now - timedelta(minutes=40)
        )

        # Jordan: a WhatsApp question nobody has answered yet.
        jordan = self._thread("whatsapp:+447700900123", "Jordan Park")
        self._message(
            jordan,
            "whatsapp",
            support_line,
            "Can I change the delivery address on my order?",
            now - timedelta(minutes=15),
        )

        # Priya: a sales lead that was answered and resolved.
        priya = self._thread("+1 (212) 555-0187", "Priya Natarajan")
        self._message(
            priya, "sms", sales_line, "Do you offer team discounts for 20+ pairs?", now - timedelta(days=6)
        )
        self._message(
            priya,
            "sms",
            sales_line,
            "We do: 15% from 20 pairs. I'll email a quote today.",
            now - timedelta(days=6, minutes=-30),
            author=alex,
        )
        conversation_set_status(conversation=priya, status=Conversation.RESOLVED, by=alex)
        # A few weeks of resolved episodes, answered and rated, for the performance report.
        from reports.demo import demo_performance_load

        demo_performance_load(inboxes=[support_line, sales_line], agents=[sam, alex], now=now)

        # Dana bought the blue runners (and had before): an event from the shop, and a loyal customer.
        from lifecycle.demo import demo_histories_load
        from lifecycle.services import touchpoint_record

        for order, days in (("3921", 40), ("4417", 1)):
            touchpoint_record(
                contact=dana.contact,
                type="purchase",
                client_key=f"demo-shop-{order}",
                occurred_at=now - timedelta(days=days),
                payload={"order": order},
            )
        # Sixty more customers over four months, taken some way down the funnel: Reports → Funnel has a shape.
        demo_histories_load(now=now, inboxes=[support_line, sales_line], agents=[alex, sam])
        # From now on a qualified lead is handed to a salesperson, who owns them whoever answers the thread.
        Stage.objects.filter(key="qualified").update(owner_team=sales)
        # Response targets for what comes next: the thread header counts down, and a miss is a leak.
        from lifecycle.targets import response_target_save

        response_target_save(
            target=None,
            name="Support answers within the hour",
            scope=f"team:{support.pk}",
            minutes={"first_response": 60, "next_response": 120, "resolution": 24 * 60},
            warn_percent=75,
        )
        response_target_save(
            target=None,
            name="Sales: owners call within 4 hours",
            scope=f"team:{sales.pk}",
            minutes={"first_response": 30, "owner_touch": 240},
            warn_percent=75,
        )

        # Dana is a logged-in customer of the shop: the shop's user id, for Hub.identify with a valid hash.
        Identity.objects.create(
            contact=dana.contact,
            kind=EXTERNAL,
            scope=site_scope(webchat.pk),
            address=DEMO_SHOP_USER_ID,
            raw_address=DEMO_SHOP_USER_ID,
        )
        self._webchat_help(webchat)

    def _webchat_help(self, inbox: Inbox) -> None:
        """A page to try the widget from another origin: the embed tag, and identify as Dana with a valid hash.

        A real site renders the hash on its server for the logged-in user; the demo writes Dana's into the page.
        """
        from channels_adapters.webchat.identity import user_hash

        digest = user_hash(secret=inbox.identity_secret, value=DEMO_SHOP_USER_ID)
        folder = settings.VAR_DIR / "webchat-demo"
        folder.mkdir(parents=True, exist_ok=True)
        identify = (
            f"Hub.identify({{user_id: '{DEMO_SHOP_USER_ID}', name: 'Dana Whitaker', user_hash: '{digest}'}})"
        )
        (folder / "index.html").write_text(
            "<!doctype html>\n<html lang=en><meta charset=utf-8>"
            '<meta name=viewport content="width=device-width, initial-scale=1">'
            "<title>Trail Shoes: pricing</title>\n"
            "<h1>Trail Shoes</h1><p>A plain page on another origin, embedding the hub's web chat.</p>\n"
            f'<button onclick="{identify}">Log in as Dana (a valid user_hash)</button>\n'
            f'<script src="{settings.PUBLIC_BASE_URL}/widget.js" data-widget-key="{inbox.widget_key}" async>'
            "</script>\n"
        )

    def _user(
        self, username: str, first: str, last: str, password: str, role: str, teams: list[Team]
    ) -> User:
        user = User.objects.create_user(
            username=username,
            password=password,
            first_name=first,
            last_name=last,
            email=f"{username}@example.com",
            is_staff=role == AgentProfile.ADMIN,
            is_superuser=role == AgentProfile.ADMIN,
        )
        profile = AgentProfile.objects.create(user=user, role=role, availability=AgentProfile.ONLINE)
        profile.teams.set(teams)
        return user

    def _thread(self, phone: str, name: str) -> Conversation:
        contact, _ = contact_resolve(kind="phone", address=phone, name=name)
        return conversation_get_or_create(contact=contact)

    def _message(
        self,
        conversation: Conversation,
        channel: str,
        inbox: Inbox,
        body: str,
        when: Any,
        author: User | None = None,
    ) -> None:
        """A message of the demo history: from the customer, or from `author` when given."""
        phone = conversation.contact.identities.first()
        assert phone is not None
        customer, business = phone.address, inbox.address
        entry_append(
            conversation=conversation,
            kind=Entry.MESSAGE,
            direction=Entry.OUTBOUND if author else Entry.INBOUND,
            channel=channel,
            inbox=inbox,
            body=body,
            author=author,
            created_at=when,
            delivery_status=Entry.DELIVERED if author else "",
            provider="demo",
            provider_id=f"demo-{secrets.token_hex(8)}",
            from_address=business if author else customer,
            to_address=customer if author else business,
        )
