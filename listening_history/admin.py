"""The operator's view of imports: who, state, counts, size, times, heartbeat; a stuck one
stands out (running, heartbeat older than the sweeper allows)."""

from django.contrib import admin, messages
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from listening_history import importer, services
from listening_history.models import Import, SyncState


@admin.register(Import)
class ImportAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "user",
        "state",
        "stuck",
        "files",
        "entries",
        "added",
        "duplicates",
        "skipped",
        "size",
        "started_at",
        "finished_at",
        "heartbeat_at",
    )
    list_filter = ("state",)
    list_select_related = ("user",)
    search_fields = ("user__username", "id")
    date_hierarchy = "created_at"
    actions = ["retry_imports", "cancel_imports"]
    readonly_fields = [field.name for field in Import._meta.fields]
    fields = readonly_fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(boolean=True, description="Stuck")
    def stuck(self, upload):
        if upload.state != Import.State.RUNNING:
            return False
        beat = upload.heartbeat_at
        return beat is None or timezone.now() - beat > importer.STALE_AFTER

    @admin.display(description="Upload size", ordering="upload_bytes")
    def size(self, upload):
        return filesizeformat(upload.upload_bytes)

    @admin.action(description="Retry selected imports now (stuck or queued ones)")
    def retry_imports(self, request, queryset):
        done = sum(services.retry_import(upload) for upload in queryset)
        self.message_user(request, f"Queued {done} import{'s' if done != 1 else ''} again.")
        if done < queryset.count():
            self.message_user(
                request,
                "Finished imports were left alone: their upload is deleted when they end.",
                messages.WARNING,
            )

    @admin.action(description="Cancel selected imports")
    def cancel_imports(self, request, queryset):
        done = sum(services.cancel_import(upload) for upload in queryset)
        self.message_user(request, f"Cancelled {done} import{'s' if done != 1 else ''}.")


@admin.register(SyncState)
class SyncStateAdmin(admin.ModelAdmin):
    """Each listener's sync of recently played: opted in, last run, last error (no token)."""

    list_display = (
        "user",
        "opted_in",
        "opted_in_at",
        "last_run_at",
        "last_added",
        "total_added",
        "paused",
        "last_error",
    )
    list_filter = ("opted_in", "paused")
    list_select_related = ("user",)
    search_fields = ("user__username",)
    readonly_fields = [field.name for field in SyncState._meta.fields]
    fields = readonly_fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
