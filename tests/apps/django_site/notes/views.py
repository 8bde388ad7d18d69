import os
import sys

from django import forms
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import render

from .models import Note


class NoteForm(forms.Form):
    text = forms.CharField(max_length=200)


def note_form(request):
    if request.method == "POST":
        form = NoteForm(request.POST)
        if form.is_valid():
            Note.objects.create(text=form.cleaned_data["text"])
            return HttpResponseRedirect("/notes/list")
    else:
        form = NoteForm()
    return render(request, "notes/form.html", {"form": form})


def note_list(request):
    return JsonResponse({
        "notes": list(Note.objects.order_by("id").values_list("text", flat=True)),
        "interpreter": request.META.get("mod_subinterp.interpreter"),
        "pid": os.getpid(),
        "sys_id": id(sys),
    })
