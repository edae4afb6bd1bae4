"""Owner scoping for the admin: staff who are not superusers see and change only their own.

The GraphQL API lets staff see everything (DESIGN.md, Access); the admin is where staff
accounts are handed to owners' support people, so there a non-superuser is scoped like
an owner: lists, change pages, actions and history (all built on `get_queryset`), list
filters (`RelatedOnlyFieldListFilter` offers only what the scoped list refers to), and
every foreign-key choice, whose queryset is also what validates a submitted id.
"""

from django.contrib import admin
from django.contrib.auth import get_user_model


def _scoped(queryset, request, admin_site):
    """`queryset` (of any model) narrowed to what `request.user` owns."""
    user = request.user
    if user.is_superuser:
        return queryset
    model = queryset.model
    if model is get_user_model():
        return queryset.filter(pk=user.pk)
    if admin_site.is_registered(model):
        model_admin = admin_site.get_model_admin(model)
        if isinstance(model_admin, OwnedAdmin):
            return queryset.filter(**{model_admin.owner_path: user})
    return queryset


class OwnedChoicesMixin:
    """Foreign-key choices limited to the user's own objects (ModelAdmin and inlines)."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if formfield is not None and hasattr(formfield, "queryset"):
            formfield.queryset = _scoped(formfield.queryset, request, self.admin_site)
        return formfield


class OwnedAdmin(OwnedChoicesMixin, admin.ModelAdmin):
    """A model whose rows belong to the user at `owner_path`."""

    owner_path = "owner"
    # The field naming the owner directly, if any: set to the user on add, read-only.
    owner_field: str | None = None

    def get_queryset(self, request):
        return _scoped(super().get_queryset(request), request, self.admin_site)

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        if self.owner_field and not request.user.is_superuser:
            return (*fields, self.owner_field)
        return fields

    def save_model(self, request, obj, form, change):
        if self.owner_field and not change and not request.user.is_superuser:
            setattr(obj, self.owner_field, request.user)
        super().save_model(request, obj, form, change)
