"""Routes of the test project."""

from __future__ import annotations

from django.urls import path

from tests.django_project import views

urlpatterns = [
    path("login/", views.login_view),
    path("logout/", views.logout_view),
    path("private/", views.private_view),
    path("whoami/", views.whoami_view),
    path("set/<str:key>/<str:value>/", views.set_view),
    path("password/", views.password_view),
    path("sessions/", views.sessions_view),
    path("boom/", views.boom_view),
    path("login-then-fail/", views.login_then_fail_view),
    path("save-now/", views.save_now_view),
    path("bad-key/", views.bad_key_view),
    path("async-login/", views.async_login_view),
    path("async-logout/", views.async_logout_view),
]
