from __future__ import annotations

from django.urls import path

from sequences import api

urlpatterns = [
    path("sequences/", api.SequenceList.as_view(), name="api-sequences"),
    path("sequences/<int:pk>/", api.SequenceDetail.as_view(), name="api-sequence"),
    path(
        "sequences/<int:pk>/enrollments/", api.SequenceEnrollments.as_view(), name="api-sequence-enrollments"
    ),
    path("enrollments/", api.EnrollmentList.as_view(), name="api-enrollments"),
    path("enrollments/<int:pk>/exit/", api.EnrollmentExit.as_view(), name="api-enrollment-exit"),
]
