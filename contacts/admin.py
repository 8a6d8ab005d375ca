from __future__ import annotations

from django.contrib import admin

from contacts.models import AttributeDefinition, Contact, Identity, Label


class IdentityInline(admin.TabularInline[Identity, Contact]):
    model = Identity
    extra = 0


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin[Contact]):
    list_display = ["id", "name", "created_at", "merged_into"]
    search_fields = ["name", "identities__address"]
    inlines = [IdentityInline]
    raw_id_fields = ["merged_into"]


@admin.register(Label)
class LabelAdmin(admin.ModelAdmin[Label]):
    list_display = ["name", "color", "created_at"]
    search_fields = ["name"]


@admin.register(AttributeDefinition)
class AttributeDefinitionAdmin(admin.ModelAdmin[AttributeDefinition]):
    list_display = ["label", "key", "type", "position"]
    list_editable = ["position"]
