from django.urls import include, path

from . import views

urlpatterns = [
    path("s/", views.run_ops),
    path("as/", views.arun_ops),
    path("login/", views.login),
    path("alogin/", views.alogin),
    path("logout/", views.logout),
    path("alogout/", views.alogout),
    path("whoami/", views.whoami),
    path("awhoami/", views.awhoami),
    path("password/", views.change_password),
    path("set-password/", views.set_password),
    path("account/sessions/", include("sessionary.django.urls")),
]
