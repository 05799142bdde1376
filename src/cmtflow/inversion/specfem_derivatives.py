"""SPECFEM3D outputs for the inversion: synthetics and derivative synthetics as SAC.

Layout (CMT3D / pycmt3d convention): for each channel ``SYN/STA.NET.CHA`` the synthetic
of the initial CMTSOLUTION, ``.Mrr .Mtt .Mpp .Mrt .Mrp .Mtp`` the synthetics of a source
with only that component (all of the same size dM), and ``.dep .lat .lon`` the synthetics of
the initial source moved by ddepth / dlatitude / dlongitude. Derivatives: ``s_Mij / dM``
and ``(s_loc - s) / d``. dM is not written anywhere: it is recovered from the files
(``s = sum_ij M_ij s_Mij / dM``) and the reader refuses files that do not satisfy this.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import obspy

from cmtflow.errors import CmtflowError
from cmtflow.inversion.dataset import PARAMETERS, ChannelData, InversionDataset
from cmtflow.misfit.windows import Window
from cmtflow.processing import Band, bandpass
from cmtflow.source import Source

LOCATION_SUFFIX = {"depth": "dep", "latitude": "lat", "longitude": "lon"}


def _read(path: Path) -> obspy.Trace:
    try:
        return obspy.read(str(path))[0]
    except Exception as exc:  # ObsPy raises many types for unreadable files
        raise CmtflowError(f"cannot read waveform {path}: {exc}") from None


def _channel_id(name: str) -> str:
    """``STA.NET.CHA[.sac.d]`` -> ``NET.STA..CHA``."""
    sta, net, cha = name.split(".")[:3]
    return f"{net}.{sta}..{cha}"


def read_flexwin(path: str | Path) -> list[tuple[str, str, list[tuple[float, float, float]]]]:
    """FLEXWIN output: ``[(obs_path, syn_path, [(start, end, weight), ...]), ...]``.

    Times are seconds on the SAC time axis of the files (relative to their reference time);
    an optional third column is a window weight (pycmt3d's ``.weight`` files), else 1.
    """
    path = Path(path)
    try:
        lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
        n_pairs, pos, out = int(lines[0]), 1, []
        for _ in range(n_pairs):
            obs, syn, n_win = lines[pos], lines[pos + 1], int(lines[pos + 2])
            wins = [_window_line(lines[pos + 3 + k]) for k in range(n_win)]
            out.append((obs, syn, wins))
            pos += 3 + n_win
    except (ValueError, IndexError):
        raise CmtflowError(f"{path}: not a FLEXWIN window file (count, obs path, syn path, n, 'start end' lines)") \
            from None
    return out


def _window_line(line: str) -> tuple[float, float, float]:
    values = [float(v) for v in line.split()[:3]]
    if len(values) < 2 or not values[0] < values[1]:
        raise ValueError(line)
    return values[0], values[1], values[2] if len(values) > 2 else 1.0


def read_specfem_dataset(base: str | Path, source: Source, window_file: str | Path, n_params: int = 6,
                         band: Band | None = None, ddepth_km: float = 0.5, dlatitude_deg: float = 0.01,
                         dlongitude_deg: float = 0.01) -> tuple[InversionDataset, list[Window]]:
    """Dataset and windows from a FLEXWIN file whose paths are relative to ``base``.

    :param source: the initial source (the CMTSOLUTION the synthetics were computed for).
    :param band: optional band-pass applied to observed and synthetic traces alike.
    """
    base = Path(base)
    params = PARAMETERS[:n_params]
    channels, windows, scales = [], [], []
    for obs_path, syn_path, wins in read_flexwin(window_file):
        obs_tr, syn_tr = _read(base / obs_path), _read(base / syn_path)
        cid = _channel_id(Path(syn_path).name)
        dt = syn_tr.stats.delta
        ref = syn_tr.stats.starttime - float(syn_tr.stats.sac.b)  # SAC reference time of the windows
        t_syn = (syn_tr.stats.starttime - source.time) + dt * np.arange(syn_tr.stats.npts)
        t_obs = (obs_tr.stats.starttime - source.time) + obs_tr.stats.delta * np.arange(obs_tr.stats.npts)

        def prep(x, x_dt):
            x = np.asarray(x, float)
            return bandpass(x, x_dt, band) if band is not None else x

        syn = prep(syn_tr.data, dt)
        obs = np.interp(t_syn, t_obs, prep(obs_tr.data, obs_tr.stats.delta), left=np.nan, right=np.nan)
        comp = {name: prep(_read(base / f"{syn_path}.{name}").data, dt)[: len(syn)] for name in PARAMETERS[:6]}
        # recover dM from s = sum M_ij s_Mij / dM (least squares), and check it holds
        combo = sum(m * comp[name] for m, name in zip(source.mt, PARAMETERS[:6]))
        inv_dm = float(combo @ syn / (combo @ combo))
        resid = np.linalg.norm(syn - inv_dm * combo) / np.linalg.norm(syn)
        if resid > 0.01:
            raise CmtflowError(f"{syn_path}: the synthetic is not the moment-tensor sum of the .Mrr...Mtp files "
                               f"(relative residual {resid:.2f}); are they for this CMTSOLUTION?")
        scales.append(1.0 / inv_dm)
        dsyn = {name: comp[name] * inv_dm for name in PARAMETERS[:6]}
        steps = {"depth": ddepth_km, "latitude": dlatitude_deg, "longitude": dlongitude_deg}
        for name in params[6:]:
            moved = prep(_read(base / f"{syn_path}.{LOCATION_SUFFIX[name]}").data, dt)[: len(syn)]
            dsyn[name] = (moved - syn) / steps[name]
        sac = syn_tr.stats.sac
        channels.append(ChannelData(cid, float(t_syn[0]), dt, obs, syn, dsyn, float(sac.dist), float(sac.az)))
        for start, end, weight in wins:
            t_start, t_end = (ref + start) - source.time, (ref + end) - source.time
            kind = "body" if cid[-1] in "ZR" and t_end < float(sac.dist) / 3.5 else "surface"
            windows.append(Window(cid, t_start, t_end, kind, weight))
    if not channels:
        raise CmtflowError(f"{window_file}: no channel listed")
    notes = [f"moment perturbation of the derivative files: {np.median(scales):.4e} N·m"]
    return InversionDataset(source, channels, unit="m", notes=notes), windows
