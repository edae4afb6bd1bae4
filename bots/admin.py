from django.contrib import admin

from bots.models import Bot, Scenario, Step


class ScenarioInline(admin.TabularInline):
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


class StepInline(admin.StackedInline):
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


class OwnedAdmin(admin.ModelAdmin):
    """Non-superuser staff see and edit only what they own."""

    owner_path = "owner"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{self.owner_path: request.user})


@admin.register(Bot)
class BotAdmin(OwnedAdmin):
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
    list_filter = ("is_active", "bot")
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
    list_filter = ("step_type", "scenario__bot")
    search_fields = ("name", "scenario__name")
    list_select_related = ("scenario", "next_step")
