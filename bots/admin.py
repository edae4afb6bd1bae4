from django.contrib import admin

from bots.models import Bot, Scenario, Step
from core.admin_scoping import OwnedAdmin, OwnedChoicesMixin

OWN_BOTS = admin.RelatedOnlyFieldListFilter  # lists only bots the scoped rows refer to


class ScenarioInline(OwnedChoicesMixin, admin.TabularInline):
    model = Scenario
    extra = 0
    fields = ("name", "is_active", "initial_step")
    show_change_link = True

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # Only steps of the bot's scenarios make sense as an initial step.
        if db_field.name == "initial_step":
            bot_id = request.resolver_match.kwargs.get("object_id")
            kwargs["queryset"] = Step.objects.filter(scenario__bot_id=bot_id)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class StepInline(OwnedChoicesMixin, admin.StackedInline):
    model = Step
    extra = 0
    fields = ("order", "name", "step_type", "content", "next_step")
    show_change_link = True
    fk_name = "scenario"

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "next_step":
            scenario_id = request.resolver_match.kwargs.get("object_id")
            kwargs["queryset"] = Step.objects.filter(scenario_id=scenario_id)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Bot)
class BotAdmin(OwnedAdmin):
    owner_field = "owner"
    list_display = (
        "name",
        "bot_type",
        "model",
        "temperature",
        "is_active",
        "is_public",
        "owner",
        "updated_at",
    )
    list_filter = ("bot_type", "is_active", "is_public", "model", "created_at")
    search_fields = ("name", "description", "system_prompt", "owner__username")
    raw_id_fields = ("owner",)
    inlines = [ScenarioInline]

    def get_changeform_initial_data(self, request):
        return {"owner": request.user.pk}


@admin.register(Scenario)
class ScenarioAdmin(OwnedAdmin):
    owner_path = "bot__owner"
    list_display = ("name", "bot", "is_active", "initial_step", "updated_at")
    list_filter = ("is_active", ("bot", OWN_BOTS))
    search_fields = ("name", "description", "bot__name")
    inlines = [StepInline]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "initial_step":
            scenario_id = request.resolver_match.kwargs.get("object_id")
            kwargs["queryset"] = Step.objects.filter(scenario_id=scenario_id)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Step)
class StepAdmin(OwnedAdmin):
    owner_path = "scenario__bot__owner"
    list_display = ("name", "scenario", "step_type", "order", "next_step")
    list_filter = ("step_type", ("scenario__bot", OWN_BOTS))
    search_fields = ("name", "scenario__name")
    list_select_related = ("scenario", "next_step")
