"""cmtflow: rapid earthquake source inversion (CMT3D) as Apache Airflow DAGs."""
__version__ = "0.1.0"
