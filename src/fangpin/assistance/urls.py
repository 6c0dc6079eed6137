from django.urls import path

from fangpin.assistance import views

app_name = "assistance"
urlpatterns = [
    path("assistance/", views.plan_list, name="plan_list"),
    path("assistance/toolbox/", views.toolbox, name="toolbox"),
    path("assistance/toolbox/seed/", views.toolbox_seed, name="toolbox_seed"),
    path("assistance/toolbox/new/", views.measure_type_create, name="measure_type_create"),
    path("assistance/toolbox/<int:pk>/", views.measure_type_edit, name="measure_type_edit"),
    path("assistance/cases/<int:pk>/plan/", views.plan_start, name="plan_start"),
    path("assistance/plans/<int:pk>/", views.plan_detail, name="plan_detail"),
    path("assistance/plans/<int:pk>/measures/", views.measure_add, name="measure_add"),
    path("assistance/plans/<int:pk>/visits/", views.visit_add, name="visit_add"),
    path("assistance/plans/<int:pk>/adjust/", views.plan_adjust, name="plan_adjust"),
    path("assistance/measures/<int:pk>/", views.measure_update, name="measure_update"),
    path("assistance/roster/", views.roster, name="roster"),
    path("assistance/roster/export/", views.roster_export, name="roster_export"),
    path("assistance/roster/exports/<int:pk>/", views.roster_export_detail, name="roster_export_detail"),
    path("assistance/roster/exports/<int:pk>/download/", views.roster_download, name="roster_download"),
    path("assistance/onboard/", views.onboard, name="onboard"),
    path("assistance/onboard/<int:pk>/", views.onboard_detail, name="onboard_detail"),
    path("assistance/reconciliation/", views.reconciliation, name="reconciliation"),
    path(
        "assistance/reconciliation/<int:pk>/resolve/", views.discrepancy_resolve, name="discrepancy_resolve"
    ),
]
