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


def plot_beachball(result: InversionResult, dataset: InversionDataset, path: Path) -> Path:
    """Focal sphere (lower hemisphere) of the solution with the azimuths of used stations."""
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.add_collection(beach(list(result.source.mt), xy=(0, 0), width=2.0, facecolor="tab:red", linewidth=1))
    used = set(result.stations_used)
    for ch in dataset.channels:
        if ch.station in used:
            a = np.deg2rad(ch.azimuth)
            ax.plot(1.08 * np.sin(a), 1.08 * np.cos(a), "kv", ms=6)
    s = result.source
    p1, p2 = s.nodal_planes
    ax.set_title(f"{s.event_id}  Mw {s.mw:.2f}  depth {s.depth_km:.1f} km\n"
                 f"{p1[0]:.0f}/{p1[1]:.0f}/{p1[2]:.0f}  {p2[0]:.0f}/{p2[1]:.0f}/{p2[2]:.0f}", fontsize=10)
    ax.set_xlim(-1.25, 1.25)
    ax.set_ylim(-1.25, 1.25)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_waveforms(result: InversionResult, dataset: InversionDataset, path: Path, max_stations: int = 40) -> Path:
    """Observed (black), initial (grey) and final (red) synthetics with the windows shaded."""
    dm = result.dm
    final = linear_synthetics(dataset, result.parameters, dm)
    stations = sorted({ch.station for ch in dataset.channels},
                      key=lambda s: next(c.distance_km for c in dataset.channels if c.station == s))[:max_stations]
    comps = sorted({ch.channel[-1] for ch in dataset.channels}, key="ZRTNE".index)
    height = 1.2 * len(stations) + 1
    fig, axes = plt.subplots(len(stations), len(comps), figsize=(4 * len(comps), height), squeeze=False)
    # title close to the rows, room for the station labels: the layout set here, as a tight
    # bounding box would draw the 100-odd axes twice
    fig.subplots_adjust(top=1.0 - 0.9 / height, bottom=0.5 / height, left=0.9 / (4 * len(comps)), right=0.98,
                        hspace=0.25)
    spans = [(w.window.start, w.window.end) for w in result.windows]
    # the windows with some context, not the whole synthetic axis
    xlim = (min(a for a, _ in spans) - 30.0, max(b for _, b in spans) + 60.0) if spans else None
    by_id = {ch.channel: (i, ch) for i, ch in enumerate(dataset.channels)}
    lag = int(round(result.time_shift_s / dataset.channels[0].dt))
    for r, sta in enumerate(stations):
        for c, comp in enumerate(comps):
            ax = axes[r, c]
            ax.set_yticks([])
            if r < len(stations) - 1:  # time ticks on the bottom row only: ticks are most of the drawing
                ax.set_xticks([])
            match = [cid for cid in by_id if cid.startswith(sta + ".") and cid[-1] == comp]
            if not match:
                ax.axis("off")
                continue
            i, ch = by_id[match[0]]
            t = ch.times
            syn = result.moment_scale * np.roll(final[i], lag)
            ax.plot(t, ch.obs, "k", lw=0.8)
            ax.plot(t, ch.syn, color="0.6", lw=0.6)
            ax.plot(t, syn, "r", lw=0.8)
            for w in result.windows:
                if w.window.channel == ch.channel:
                    ax.axvspan(w.window.start, w.window.end, color="tab:blue" if w.accepted else "0.85", alpha=0.15)
            if c == 0:
                ax.set_ylabel(f"{sta}\n{ch.distance_km:.0f} km", rotation=0, ha="right", va="center", fontsize=8)
            if r == 0:
                ax.set_title(comp)
            if xlim:
                ax.set_xlim(*xlim)
    axes[-1, 0].set_xlabel("time after centroid (s)")
    fig.suptitle(f"black: observed, grey: initial, red: final ({dataset.unit}); blue: windows used", fontsize=9,
                 y=1.0 - 0.25 / height)
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
