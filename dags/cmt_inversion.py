"""cmt_inversion: centroid moment tensor inversion of one earthquake (built in cmtflow.airflow.dags)."""

from cmtflow.airflow.dags import cmt_inversion_dag

dag = cmt_inversion_dag()
