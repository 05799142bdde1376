"""The wait for the data (``data.wait_for_data``): on what the data centre has, not on the clock.

:class:`DataArrivalSensor` asks once in the worker (:func:`cmtflow.stages.data_arrival`); when
the stations in are not enough yet it defers to :class:`DataArrivalTrigger`, which asks again
from the triggerer (no worker slot held) until they are, or the run's deadline has passed.

An earthquake of the past is never deferred: the answer is there at once, and a trigger that
fires at once races the executor's report of the deferring attempt (under a burst of runs the
scheduler then sees "finished with state success, but the task instance's state is queued" and
fails the attempt).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from airflow.sdk import BaseOperator
from airflow.triggers.base import BaseTrigger, TriggerEvent
from obspy import UTCDateTime


class DataArrivalTrigger(BaseTrigger):
    """Asks :func:`cmtflow.stages.data_arrival` of ``run_dir`` at the times it names, until the
    run can fetch; the event is its last answer. The first question is ``first_look_s`` away:
    the worker has just asked."""

    def __init__(self, run_dir: str, first_look_s: float):
        super().__init__()
        self.run_dir, self.first_look_s = run_dir, first_look_s

    def serialize(self):
        return f"{type(self).__module__}.{type(self).__qualname__}", {"run_dir": self.run_dir,
                                                                      "first_look_s": self.first_look_s}

    async def run(self):
        from cmtflow import stages

        await asyncio.sleep(max(self.first_look_s, 0.0))
        while True:
            status = await asyncio.to_thread(stages.data_arrival, self.run_dir)
            if status["ready"]:
                yield TriggerEvent(status)
                return
            await asyncio.sleep(max(1.0, UTCDateTime(status["next_look"]) - UTCDateTime()))


class DataArrivalSensor(BaseOperator):
    """Waits until the run's stations are in (:func:`cmtflow.stages.data_arrival`): returns its
    answer, which says how many were in and why the wait ended."""

    template_fields = ("run_dir",)

    def __init__(self, *, run_dir: str, **kwargs):
        super().__init__(**kwargs)
        self.run_dir = run_dir

    def execute(self, context):
        from cmtflow import stages

        status = stages.data_arrival(self.run_dir)
        self.log.info("%s", status["reason"])
        if status["ready"]:
            return status
        wait_s = max(1.0, UTCDateTime(status["next_look"]) - UTCDateTime())
        left_s = max(wait_s, UTCDateTime(status["deadline"]) - UTCDateTime())
        self.log.info("waiting (deferred) for the data; next look in %.0f s, deadline %s", wait_s, status["deadline"])
        # the trigger ends by the deadline itself; the timeout only guards against a triggerer that lost it
        self.defer(trigger=DataArrivalTrigger(str(self.run_dir), wait_s), method_name="execute_complete",
                   timeout=timedelta(seconds=left_s + 600.0))

    def execute_complete(self, context, event=None):
        self.log.info("%s", (event or {}).get("reason", ""))
        return event
