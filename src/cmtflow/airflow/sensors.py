"""The wait for the data windows (``data.wait_for_data``).

Airflow's ``DateTimeSensorAsync`` defers even when its time has passed, and a trigger that
fires at once races the executor's report of the deferring attempt: under a burst of runs
the scheduler then sees "finished with state success, but the task instance's state is
queued" and fails the attempt (the load test lost one run of 20 so, both attempts). An
earthquake of the past, or one whose data are due within :data:`NO_DEFER_S`, has nothing to
wait for that is worth a deferral.
"""

from __future__ import annotations

import time

from airflow.providers.common.compat.sdk import timezone
from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync

#: A target this close (seconds) is waited for in the worker instead of the triggerer.
NO_DEFER_S = 5.0


class DataWindowSensor(DateTimeSensorAsync):
    """Until ``target_time`` (templated, ISO), deferred: no worker slot held while it waits;
    at once when the time has passed."""

    def execute(self, context):
        left = (self._moment - timezone.utcnow()).total_seconds()
        if left > NO_DEFER_S:
            return super().execute(context)
        if left > 0:
            time.sleep(left)
        self.log.info("the data windows were due at %s: no wait", self._moment)
        return None
