from django.urls import path

from fangpin.regions import views

app_name = "regions"
urlpatterns = [
    path("regions/", views.region_home, name="region_home"),
    path("regions/<str:prefix>/", views.region_detail, name="region_detail"),
    path("regions/<str:prefix>/grids/", views.grid_create, name="grid_create"),
    path("regions/<str:prefix>/rename/", views.grid_rename, name="grid_rename"),
]
