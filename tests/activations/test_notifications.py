"""Mail goes out through the outbox after the change commits, one message per person: a
rolled-back change mails nobody, and people without an address are skipped."""

import pytest
from django.core import mail
from django.db import transaction
from django_q.models import Task

from activations import notifications
from activations.choices import Decision
from activations.services import decide_request
from tests.activations.helpers import activate
from tests.factories import EligibleAssignmentFactory, UserFactory


def test_a_notification_is_sent_by_the_task_after_commit(
    alice, bob, exchange_admin, sync_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        notifications.notify(role=exchange_admin, recipients=[alice, bob, alice], subject="[PIM] Hello", body="Body\n")
        assert mail.outbox == []  # not before the commit

    assert sorted(message.to for message in mail.outbox) == [["alice@example.com"], ["bob@example.com"]]  # once each
    assert {(message.subject, message.body) for message in mail.outbox} == {("[PIM] Hello", "Body\n")}
    assert {task.func for task in Task.objects.all()} == {"audit.tasks.deliver_message"}


def test_a_rolled_back_change_mails_nobody(alice, exchange_admin, sync_tasks, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        notifications.notify(role=exchange_admin, recipients=[alice], subject="[PIM] Never", body="")
        raise RuntimeError("the change failed")

    assert mail.outbox == []


def test_recipients_without_an_address_are_skipped(exchange_admin, django_capture_on_commit_callbacks):
    nameless = UserFactory(username="service-account", email="")

    with django_capture_on_commit_callbacks() as callbacks:
        notifications.notify(role=exchange_admin, recipients=[nameless], subject="[PIM] Nobody", body="")

    assert callbacks == []


def test_the_approvers_mail_and_the_decision_mail_link_to_the_site(
    alice, bob, exchange_admin, with_approval, clock, settings, sync_tasks, django_capture_on_commit_callbacks
):
    settings.PIM_SITE_URL = "https://pim.example.com/"
    eligibility = EligibleAssignmentFactory(principal=alice, role=exchange_admin)

    with django_capture_on_commit_callbacks(execute=True):
        [request] = activate(alice, eligibility)
    with django_capture_on_commit_callbacks(execute=True):
        decide_request(actor=bob, request=request, decision=Decision.APPROVE)

    *to_approvers, to_requester = mail.outbox
    assert sorted(message.to[0] for message in to_approvers) == ["bob@example.com", "carol@example.com"]
    for message in to_approvers:
        assert f"https://pim.example.com/requests/{request.pk}/" in message.body  # opens the decision
    assert to_requester.to == ["alice@example.com"]
    assert to_requester.subject == "[PIM] Your request for Exchange Administrator was approved and is active now."
    assert f"https://pim.example.com/requests/{request.pk}/" in to_requester.body
