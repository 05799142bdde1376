"""earthquake_alerts: start cmt_inversion for new earthquakes (built in cmtflow.airflow.dags)."""

from cmtflow.airflow.dags import earthquake_alerts_dag

dag = earthquake_alerts_dag()
