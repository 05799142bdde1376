"""Data access: station files now; FDSN / SDS waveform clients join here."""

from cmtflow.data.stations import read_stations, station_list

__all__ = ["read_stations", "station_list"]
