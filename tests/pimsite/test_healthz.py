from unittest import mock

from django.db.utils import OperationalError


def test_healthz_reports_database_and_task_queue_reachable(client, db):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "task_queue": "ok"}


def test_healthz_answers_503_when_the_database_is_unreachable(client, db):
    with mock.patch("django.db.backends.utils.CursorWrapper.execute", side_effect=OperationalError("down")):
        response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"
    assert response.json()["status"] == "unavailable"


def test_healthz_needs_no_sign_in(client, db):
    assert client.get("/healthz").status_code == 200
    assert client.get("/").status_code == 302
