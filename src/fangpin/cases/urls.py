from django.urls import path

from fangpin.cases import views

app_name = "cases"
urlpatterns = [
    path("cases/", views.case_list, name="case_list"),
    path("cases/tasks/", views.my_tasks, name="my_tasks"),
    path("cases/deadlines/", views.deadline_settings, name="deadline_settings"),
    path("cases/<int:pk>/", views.case_detail, name="case_detail"),
    path("cases/<int:pk>/act/<slug:action>/", views.case_act, name="case_act"),
    path("cases/<int:pk>/reassign/", views.case_reassign, name="case_reassign"),
    path("cases/<int:pk>/eliminate/", views.case_eliminate, name="case_eliminate"),
    path("cases/<int:pk>/notice/", views.case_notice, name="case_notice"),
    path("cases/<int:pk>/authorization/", views.case_authorization, name="case_authorization"),
    path("leads/<int:pk>/open-case/", views.case_open, name="case_open"),
]
