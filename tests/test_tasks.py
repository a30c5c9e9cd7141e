"""The Celery adapter: a request becomes a plain Delivery, the only place that reads one."""

from __future__ import annotations

from celery.app.task import Context

from workers.models import SlotReservation
from workers.pipeline import Stage
from workers.runner import Delivery
from workers.tasks import StageTask, delivery_of


def test_a_request_becomes_a_delivery_with_what_the_message_carried() -> None:
    request = Context(
        id="m-1",
        hostname="fetch@box",
        delivery_info={"redelivered": True},
        enqueued_at=1_800_000_000.5,
        slot=["news.example", 1_800_000_010.0],
        infra_attempt=2,
    )
    assert delivery_of(request, Stage.FETCH, "a1") == Delivery(
        stage=Stage.FETCH,
        article_id="a1",
        message_id="m-1",
        worker="fetch@box",
        enqueued_at=1_800_000_000.5,
        redelivered=True,
        reservation=SlotReservation("news.example", 1_800_000_010.0),
        infra_attempt=2,
    )


def test_a_bare_request_gives_a_bare_delivery() -> None:
    delivery = delivery_of(Context(id="m-2", hostname=None), Stage.CLEAN, "a2")
    assert (delivery.reservation, delivery.enqueued_at, delivery.infra_attempt) == (None, None, 0)
    assert not delivery.redelivered


def test_stage_tasks_ack_late_requeue_when_their_worker_dies_and_never_cap_retries() -> None:
    assert StageTask.acks_late
    assert StageTask.reject_on_worker_lost
    assert StageTask.max_retries is None
