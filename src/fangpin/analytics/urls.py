from django.urls import path

from fangpin.analytics import views

app_name = "analytics"
urlpatterns = [
    path("analytics/", views.home, name="home"),
    path("analytics/region/<str:prefix>/", views.region_dashboard, name="dashboard"),
    path("analytics/region/<str:prefix>/households/", views.households, name="households"),
    path("analytics/region/<str:prefix>/report/", views.report, name="report"),
    path("analytics/region/<str:prefix>/model/", views.model_health, name="model_health"),
    path("analytics/region/<str:prefix>/report.xlsx", views.report_xlsx, name="report_xlsx"),
    path(
        "analytics/region/<str:prefix>/table/<slug:name>.<slug:fmt>", views.table_export, name="table_export"
    ),
    path("analytics/region/<str:prefix>/export/", views.export_start, name="export_start"),
    path("analytics/exports/<int:pk>/", views.export_status, name="export_status"),
    path("analytics/exports/<int:pk>/download/", views.export_download, name="export_download"),
    path("analytics/alerts/", views.alerts, name="alerts"),
    path("analytics/alerts/<int:pk>/", views.alert_detail, name="alert_detail"),
]
