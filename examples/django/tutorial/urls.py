from django.urls import include, path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("set-short-session", views.set_short_session, name="set_short_session"),
    path("check-session", views.check_session, name="check_session"),
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("account/sessions/", include("sessionary.django.urls")),
]
