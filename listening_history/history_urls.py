from django.urls import path, re_path

from listening_history import history_views, recap_views

app_name = "history"

urlpatterns = [
    path("history", history_views.history, name="history"),
    path("history/summary.json", history_views.summary_json, name="summary-json"),
    path("history/export.csv", history_views.export_csv, name="export-csv"),
    path("history/export.json", history_views.export_json, name="export-json"),
    path("history/time-zone", history_views.set_zone, name="time-zone"),
    path("history/sync", history_views.set_sync, name="sync"),
    # Ids are hashes of the listener's normalised names (listening_history.links).
    re_path(r"^history/artist/(?P<ident>[0-9a-f]{16})$", history_views.artist, name="artist"),
    re_path(r"^history/track/(?P<ident>[0-9a-f]{32})$", history_views.track, name="track"),
    path("history/discoveries", recap_views.discoveries_page, name="discoveries"),
    path("history/recap", recap_views.recaps, name="recaps"),
    path("history/recap/<int:year>", recap_views.recap, name="recap"),
    path("history/recap/<int:year>/share", recap_views.share, name="recap-share"),
    path("history/recap/<int:year>/unshare", recap_views.unshare, name="recap-unshare"),
    # Public: whoever has the link (rate-limited, euterpe_site.ratelimit).
    path("shared/recap/<slug:token>", recap_views.shared_recap, name="shared-recap"),
]
