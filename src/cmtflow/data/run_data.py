"""The data side of a run conf: the station selection's and the fetch's settings, the archive
the waveforms come from, and the station metadata. The DAG's stages and ``cmtflow fetch`` read
a run conf through these, so both decide the same way."""

from __future__ import annotations

from cmtflow.runconf import RunConf


def selection_config(conf: RunConf):
    from cmtflow.data.selection import SelectionConfig

    return SelectionConfig(min_distance_km=conf.min_distance_km, max_distance_km=conf.max_distance_km,
                           max_stations=conf.max_stations, channel_priorities=tuple(conf.channels.split(",")),
                           strong_motion=SelectionConfig.strong_motion if conf.strong_motion else (),
                           # miniSEED is counts; files may carry their units (SAC idep, the conf)
                           require_response=conf.data_source != "files" and not conf.data_quantity)


def fetch_config(conf: RunConf):
    from cmtflow.data.checks import CheckConfig, record_after_s, record_before_s
    from cmtflow.data.fetch import FetchConfig

    # the signal window reaches the processing window's end (record_after_s); the request asks a
    # minute more, which keeps the window's end clear of the request's edge, and enough before
    # the origin for the noise window of the band (record_before_s)
    after_s = record_after_s(conf.tmax)
    return FetchConfig(min_stations=conf.min_stations, post_s=after_s + 60.0,
                       pre_origin_s=record_before_s(conf.tmax),
                       latency_s=conf.data_latency_s, deadline_s=conf.data_deadline_s,
                       checks=CheckConfig(quantity=conf.data_quantity, scale=conf.data_scale, signal_post_s=after_s,
                                          min_signal_s=conf.tmax, longest_period_s=conf.tmax))


def waveform_archive(conf: RunConf):
    """Where the waveforms are: the dataselect service, an SDS archive or a folder of files."""
    from cmtflow.data.fetch import FDSNArchive, SDSArchive
    from cmtflow.data.waveforms import FileArchive

    if conf.data_source == "sds":
        return SDSArchive(conf.sds_path)
    if conf.data_source == "files":
        return FileArchive(conf.waveforms)
    return FDSNArchive(_dataselect_service(conf))


def _station_service(conf: RunConf):
    from cmtflow.data.services import ServiceConfig

    return ServiceConfig.from_env(conf.station_service)  # station metadata is open; waveforms may not be


def _dataselect_service(conf: RunConf):
    """The waveform service, with the credentials of ``data_connection`` when named."""
    from cmtflow.data.services import ServiceConfig

    credentials = None
    if conf.data_connection:
        from cmtflow.data.credentials import from_connection

        credentials = from_connection(conf.data_connection)
    return ServiceConfig.from_env(conf.dataselect_service or conf.station_service, credentials=credentials)


def station_metadata(conf: RunConf, quake, config, inventories: list[str] | None = None):
    """The merged station metadata of a run: local files (``inventories``, default the conf's
    ``inventory``; and, for a folder of waveform files, their SAC headers), else the station
    service's answer."""
    from cmtflow.data.metadata import merge_inventory, pieces_from_waveforms, read_metadata
    from cmtflow.data.selection import query_inventory

    given = inventories or ([conf.inventory] if conf.inventory else [])
    if given or conf.data_source == "files":
        headers = pieces_from_waveforms(waveform_archive(conf).headers) if conf.data_source == "files" else []
        return read_metadata(given, headers)
    return merge_inventory(query_inventory(quake, config, _station_service(conf)), conf.station_service)
