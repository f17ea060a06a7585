from django.urls import path

from listening_history import views

app_name = "listening_history"

urlpatterns = [
    path("history/import", views.import_page, name="import"),
    path("history/import/demo", views.import_demo, name="import-demo"),
    path("history/import/<uuid:import_id>", views.status_page, name="status"),
    path("history/import/<uuid:import_id>.json", views.status_json, name="status-json"),
    path("history/import/<uuid:import_id>/cancel", views.cancel, name="cancel"),
    path("history/delete", views.delete, name="delete"),
]
