from django.urls import path

from fangpin.exchange import views

app_name = "exchange"
urlpatterns = [
    path("exchange/", views.catalog_overview, name="catalog"),
    path("exchange/deliveries/", views.delivery_list, name="delivery_list"),
    path("exchange/deliveries/<int:pk>/", views.delivery_detail, name="delivery_detail"),
    path("exchange/deliveries/<int:pk>/report.xlsx", views.delivery_report, name="delivery_report"),
    path(
        "exchange/deliveries/<int:pk>/rejected.xlsx", views.delivery_corrections, name="delivery_corrections"
    ),
    path("exchange/catalog/<str:dataset>/template.xlsx", views.dataset_template, name="dataset_template"),
    path("exchange/upload/", views.upload, name="upload"),
    path("exchange/quality/", views.quality_view, name="quality"),
    path("exchange/reviews/", views.review_list, name="review_list"),
    path("exchange/reviews/<int:pk>/decide/", views.review_decide, name="review_decide"),
    path("exchange/tokens/", views.token_list, name="token_list"),
    path("exchange/tokens/<int:pk>/revoke/", views.token_revoke, name="token_revoke"),
]
