from django.urls import path

from listening_history import history_views

app_name = "history"

urlpatterns = [
    path("history", history_views.history, name="history"),
    path("history/summary.json", history_views.summary_json, name="summary-json"),
    path("history/export.csv", history_views.export_csv, name="export-csv"),
    path("history/export.json", history_views.export_json, name="export-json"),
    path("history/time-zone", history_views.set_zone, name="time-zone"),
    path("history/sync", history_views.set_sync, name="sync"),
]
