"""The two DBSC endpoints (device-bound sessions, ``docs/dbsc.md``) as Django URLs::

    urlpatterns = [
        ...,
        path("_tessera/dbsc/", include("tessera.django.dbsc_urls")),
    ]

The prefix must be the manager's ``dbsc_path_prefix`` (default ``/_tessera/dbsc``): the
registration offer names ``<prefix>/register``. The views are ``@csrf_exempt`` (Chrome sends no
CSRF token; the single-use challenge is the anti-forgery token) and ``@require_POST``.
"""

from __future__ import annotations

from django.urls import path

from tessera.django import views

app_name = "tessera_dbsc"

urlpatterns = [
    path("register", views.dbsc_register, name="register"),
    path("refresh", views.dbsc_refresh, name="refresh"),
]
