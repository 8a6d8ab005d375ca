from __future__ import annotations

from django.contrib import admin

from contacts.models import Contact, Identity


class IdentityInline(admin.TabularInline[Identity, Contact]):
    model = Identity
    extra = 0


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin[Contact]):
    list_display = ["id", "name", "created_at", "merged_into"]
    search_fields = ["name", "identities__address"]
    inlines = [IdentityInline]
    raw_id_fields = ["merged_into"]
