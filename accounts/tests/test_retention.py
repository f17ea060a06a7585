"""Refused logins are kept 90 days (the privacy page says so), even if nobody else is refused."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services
from accounts.models import RefusedLogin

pytestmark = pytest.mark.django_db


def refused(days_ago):
    record = RefusedLogin.objects.create(reason=RefusedLogin.Reason.NOT_ON_ALLOW_LIST)
    RefusedLogin.objects.filter(pk=record.pk).update(
        created_at=timezone.now() - timedelta(days=days_ago)
    )
    return record


def test_purging_deletes_refused_logins_older_than_90_days_and_counts_them():
    old, older = refused(91), refused(400)
    recent, edge = refused(1), refused(89)

    assert services.purge_refused_logins() == 2

    remaining = set(RefusedLogin.objects.values_list("pk", flat=True))
    assert remaining == {recent.pk, edge.pk}
    assert old.pk not in remaining
    assert older.pk not in remaining


def test_purging_with_nothing_old_deletes_nothing():
    refused(3)
    assert services.purge_refused_logins() == 0
    assert services.purge_refused_logins() == 0
    assert RefusedLogin.objects.count() == 1
