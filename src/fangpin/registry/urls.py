from django.urls import path

from fangpin.registry import views

app_name = "registry"
urlpatterns = [
    path("households/", views.household_list, name="household_list"),
    path("households/search/", views.household_search, name="household_search"),
    path("households/<int:pk>/", views.household_detail, name="household_detail"),
    path("persons/<int:pk>/reveal/", views.person_reveal, name="person_reveal"),
]
