from django.contrib import admin
from django.urls import path

from notes import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("notes/", views.note_form, name="note_form"),
    path("notes/list", views.note_list, name="note_list"),
]
