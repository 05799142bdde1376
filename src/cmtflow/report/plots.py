"""Solution figures: beachball with station azimuths, waveform fits, misfit summary (PNG)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from obspy.imaging.beachball import beach  # noqa: E402

from cmtflow.inversion.cmt3d import InversionResult, linear_synthetics  # noqa: E402
from cmtflow.inversion.dataset import InversionDataset  # noqa: E402
from cmtflow.solvers.traveltimes import first_arrival_rays  # noqa: E402


def _lower_hemisphere(trend_deg: float, takeoff_deg: float) -> tuple[float, float]:
    """Where a ray leaving at ``takeoff_deg`` from the downward vertical, towards
    ``trend_deg``, meets the lower focal hemisphere in the equal-area (Schmidt) projection of
    unit radius, as ObsPy draws the beachball; an upgoing ray is drawn at its antipode."""
    if takeoff_deg > 90.0:
        trend_deg, takeoff_deg = trend_deg + 180.0, 180.0 - takeoff_deg
    r = np.sqrt(2.0) * np.sin(np.radians(takeoff_deg) / 2.0)
    return r * np.sin(np.radians(trend_deg)), r * np.cos(np.radians(trend_deg))


def plot_beachball(result: InversionResult, dataset: InversionDataset, path: Path,
                   takeoffs: dict[str, float] | None = None) -> Path:
    """Focal sphere (lower hemisphere, equal area) of the solution with its P and T axes and
    the used stations where their first-arrival rays leave the source (``takeoffs``: degrees
    from the downward vertical by station, :func:`takeoff_angles`), labelled; without them,
    on the rim at their azimuths."""
    from cmtflow.source import principal_axes

    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    ax.add_collection(beach(list(result.source.mt), xy=(0, 0), width=2.0, facecolor="tab:red", linewidth=1,
                             zorder=1))  # under the axes and stations (its own default is on top)
    used, seen = set(result.stations_used), set()
    for ch in dataset.channels:
        if ch.station not in used or ch.station in seen:
            continue
        seen.add(ch.station)
        x, y = (_lower_hemisphere(ch.azimuth, takeoffs[ch.station]) if takeoffs and ch.station in takeoffs
                else 1.08 * np.array([np.sin(np.radians(ch.azimuth)), np.cos(np.radians(ch.azimuth))]))
        ax.plot(x, y, "k^", ms=5, mfc="white")
        ax.annotate(ch.station.split(".")[-1], (x, y), fontsize=6, xytext=(3, 2), textcoords="offset points")
    for name, (trend, plunge) in principal_axes(result.source.mt).items():
        if name == "B":
            continue
        x, y = _lower_hemisphere(trend, 90.0 - plunge)
        ax.plot(x, y, "o", ms=14, mfc="white" if name == "P" else "black", mec="black", zorder=5)
        ax.text(x, y, name, ha="center", va="center", fontsize=9, fontweight="bold", zorder=6,
                color="black" if name == "P" else "white")
    s = result.source
    p1, p2 = s.nodal_planes
    where = "stations at their take-off angles" if takeoffs else "stations at their azimuths (rim)"
    ax.set_title(f"{s.event_id}  Mw {s.mw:.2f}  depth {s.depth_km:.1f} km\n"
                 f"{p1[0]:.0f}/{p1[1]:.0f}/{p1[2]:.0f}  {p2[0]:.0f}/{p2[1]:.0f}/{p2[2]:.0f}\n"
                 f"lower hemisphere, equal area; P and T axes; {where}", fontsize=9)
    ax.set_xlim(-1.3, 1.3)
    ax.set_ylim(-1.3, 1.3)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def takeoff_angles(model, depth_km: float, distances_km: dict[str, float]) -> dict[str, float]:
    """The take-off angle (degrees from the downward vertical) of the first P arrival at each
    station (``{"NET.STA": km}``) for a source ``depth_km`` deep in the 1D ``model``."""
    codes = sorted(distances_km)
    _, angles = first_arrival_rays(model.thickness, model.vp, depth_km, [distances_km[c] for c in codes])
    return dict(zip(codes, (float(a) for a in angles)))


def plot_waveforms(result: InversionResult, dataset: InversionDataset, path: Path, max_stations: int = 40) -> Path:
    """Observed (black, drawn over the synthetics), initial (grey) and final (red) synthetics
    with the windows shaded: a record section per component, one row per station (nearest at
    the top), each row scaled by the largest of its three traces, that peak written at its
    right (the data's unit), and for a row with used windows the final fit of its windows:
    cross-correlation and time shift (of the first) and the variance reduction over them.
    Lines and windows are drawn as collections on one axes per component: an axes per trace
    made this figure most of the inversion stage's time on a rerun."""
    from matplotlib.collections import LineCollection, PolyCollection
    from matplotlib.transforms import blended_transform_factory

    dm = result.dm
    final = linear_synthetics(dataset, result.parameters, dm)
    distance = {}
    for ch in dataset.channels:
        distance.setdefault(ch.station, ch.distance_km)
    stations = sorted(distance, key=distance.get)[:max_stations]
    comps = sorted({ch.channel[-1] for ch in dataset.channels}, key="ZRTNE".index)
    height = 0.45 * len(stations) + 1.4
    fig, axes = plt.subplots(1, len(comps), figsize=(4 * len(comps), height), sharey=True, squeeze=False)
    fig.subplots_adjust(top=1.0 - 0.75 / height, bottom=0.55 / height, left=1.1 / (4 * len(comps)), right=0.98,
                        wspace=0.04)
    spans = [(w.window.start, w.window.end) for w in result.windows]
    by_id = {ch.channel: (i, ch) for i, ch in enumerate(dataset.channels)}
    lag = int(round(result.time_shift_s / dataset.channels[0].dt))
    windows = {}
    for w in result.windows:
        windows.setdefault(w.window.channel, []).append(w)
    t_range = [np.inf, -np.inf]
    for ax, comp in zip(axes[0], comps):
        lines = {"obs": [], "initial": [], "final": []}
        boxes = {True: [], False: []}
        right = blended_transform_factory(ax.transAxes, ax.transData)
        for row, sta in enumerate(stations):
            match = [cid for cid in by_id if cid.startswith(sta + ".") and cid[-1] == comp]
            if not match:
                continue
            i, ch = by_id[match[0]]
            t = ch.times
            t_range = [min(t_range[0], t[0]), max(t_range[1], t[-1])]
            syn = result.moment_scale * np.roll(final[i], lag)
            peak = max(np.max(np.abs(ch.obs)), np.max(np.abs(ch.syn)), np.max(np.abs(syn)), np.finfo(float).tiny)
            for name, trace in (("obs", ch.obs), ("initial", ch.syn), ("final", syn)):
                lines[name].append(np.column_stack([t, -row + 0.45 * trace / peak]))
            ax.text(0.995, -row + 0.25, f"{peak:.1e}", transform=right, ha="right", fontsize=5.5, color="0.3")
            used = [w for w in windows.get(ch.channel, ()) if w.accepted]
            for w in windows.get(ch.channel, ()):
                a, b = w.window.start, w.window.end
                boxes[bool(w.accepted)].append([(a, -row - 0.48), (b, -row - 0.48), (b, -row + 0.48), (a, -row + 0.48)])
            if used:
                inside = np.zeros(len(t), bool)
                for w in used:
                    inside |= (t >= w.window.start) & (t <= w.window.end)
                energy = np.sum(ch.obs[inside] ** 2)
                vr = 1.0 - np.sum((ch.obs[inside] - syn[inside]) ** 2) / energy if energy > 0 else float("nan")
                ax.text(0.005, -row - 0.42, f"cc {used[0].cc_after:.2f} dt {used[0].shift_after_s:+.1f} s "
                        f"VR {100 * vr:.0f} %", transform=right, fontsize=5.5, color="tab:blue")
        for accepted, colour in ((False, "0.85"), (True, "tab:blue")):
            ax.add_collection(PolyCollection(boxes[accepted], facecolors=colour, alpha=0.15, edgecolors="none"))
        for name, colour, width in (("initial", "0.6", 0.6), ("final", "r", 0.9), ("obs", "k", 0.7)):
            ax.add_collection(LineCollection(lines[name], colors=colour, linewidths=width))
        ax.set_title(comp)
        ax.set_xlabel("time after centroid (s)")
    # the windows with some context, not the whole synthetic axis
    xlim = (min(a for a, _ in spans) - 30.0, max(b for _, b in spans) + 60.0) if spans else tuple(t_range)
    for ax in axes[0]:
        ax.set_xlim(*xlim)
    axes[0, 0].set_ylim(-len(stations) + 0.4, 0.6)
    axes[0, 0].set_yticks([-row for row in range(len(stations))],
                          [f"{sta}\n{distance[sta]:.0f} km" for sta in stations], fontsize=7)
    fig.suptitle(f"black: observed, grey: initial, red: final; each row scaled to its peak (right, {dataset.unit}); "
                 "blue: windows used, their final cc, shift (data minus synthetic) and variance reduction",
                 fontsize=9, y=1.0 - 0.2 / height)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def plot_misfit(result: InversionResult, path: Path) -> Path:
    """Time shifts, cross-correlation and dlnA of the windows before/after; VR in the title."""
    used = [w for w in result.windows if w.accepted]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    for ax, before, after, label in (
            (axes[0], [w.shift_s for w in used], [w.shift_after_s for w in used], "time shift (s)"),
            (axes[1], [w.cc for w in used], [w.cc_after for w in used], "cross-correlation"),
            (axes[2], [w.dlna for w in used], [w.dlna_after for w in used], "dlnA")):
        ax.hist([before, after], bins=15, color=["0.6", "tab:red"], label=["initial", "final"])
        ax.set_xlabel(label)
    axes[0].legend()
    fig.suptitle(f"variance reduction {100 * result.variance_reduction_before:.1f} % -> "
                 f"{100 * result.variance_reduction_after:.1f} %  ({len(used)} windows, "
                 f"{len(result.stations_used)} stations)")
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)
    return path
