from django.urls import path

from fangpin.warnings import views

app_name = "warnings"
urlpatterns = [
    path("leads/", views.lead_list, name="lead_list"),
    path("leads/report/", views.lead_report, name="lead_report"),
    path("leads/qr/", views.qr_index, name="qr_index"),
    path("leads/qr/<str:prefix>/", views.village_qr, name="village_qr"),
    path("leads/<int:pk>/", views.lead_detail, name="lead_detail"),
    path("leads/<int:pk>/accept/", views.lead_accept, name="lead_accept"),
    path("leads/<int:pk>/reject/", views.lead_reject, name="lead_reject"),
    path("leads/<int:pk>/match/", views.lead_match, name="lead_match"),
    path("declare/<str:token>/", views.declare, name="declare"),
    path("exchange/feedback/", views.feedback, name="feedback"),
]
