from __future__ import annotations

import factory
from django.contrib.auth.models import User

from contacts.models import Contact, Identity
from conversations.models import AgentProfile, Inbox, Team


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Team {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.LazyAttribute(lambda o: o.username.split("_")[-1].capitalize())
    password = factory.django.Password("correct horse battery staple")


def agent(username: str, role: str = AgentProfile.AGENT, teams: tuple[Team, ...] = ()) -> User:
    user = UserFactory(username=username)
    profile = AgentProfile.objects.create(user=user, role=role, availability=AgentProfile.ONLINE)
    profile.teams.set(teams)
    return user


class InboxFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Inbox

    name = factory.Sequence(lambda n: f"Inbox {n}")
    kind = Inbox.PHONE
    address = factory.Sequence(lambda n: f"+1415555{n:04d}")


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    name = factory.Sequence(lambda n: f"Customer {n}")


class PhoneIdentityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Identity

    contact = factory.SubFactory(ContactFactory)
    kind = "phone"
    address = factory.Sequence(lambda n: f"+1212555{n:04d}")
    raw_address = factory.LazyAttribute(lambda o: o.address)
