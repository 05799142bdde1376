"""The HTML report of a run: solution table, figures, station map, provenance summary.

One self-contained folder ``<run>/report/`` (``index.html`` + PNG files), written through
a temporary folder and renamed, so an incomplete report is never shown.
"""

from __future__ import annotations

import html
import math
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from cmtflow.report.text import plane_text, pm  # noqa: E402
from cmtflow.runconf import RunConf  # noqa: E402
from cmtflow.workspace import RunWorkspace, read_json, replace_folder, staging_folder  # noqa: E402

FIGURES = ("beachball.png", "waveforms.png", "misfit.png")


def _scale_km(span_km: float) -> float:
    """A round length (km) near a fifth of ``span_km`` for the map's scale bar."""
    raw = span_km / 5.0
    power = 10 ** math.floor(math.log10(raw))
    return max(m * power for m in (1, 2, 5) if m * power <= raw)


def map_stations(solution: dict, stations: dict, selected: list[dict] | None) -> tuple[list[dict], list[dict]]:
    """The stations of the map: those the inversion used (rows of ``stations.json``) and the
    selected ones it did not (rows of the selection: no data, refused records, failed
    processing, no usable window)."""
    rows = stations.get("used", [])
    codes = set(solution.get("stations_used") or [u["station"] for u in rows])
    return [u for u in rows if u["station"] in codes], [s for s in selected or [] if s["station"] not in codes]


def plot_station_map(solution: dict, stations: dict, path: Path, event: dict | None = None,
                     selected: list[dict] | None = None) -> Path:
    """The stations used (blue) and the selected ones left out (grey: no data, refused records,
    failed processing; ``selected``: the rows of the selection) around the epicentre and the
    centroid, on the shorelines (GSHHS, read offline: :mod:`cmtflow.report.coastlines`), with
    a scale bar; degrees of equal length at the map's latitude."""
    from matplotlib.patches import Polygon

    from cmtflow.report.coastlines import shorelines

    used, left_out = map_stations(solution, stations, selected)
    c = solution["centroid"]
    lons = [u["longitude"] for u in used + left_out] + [c["longitude"]]
    lats = [u["latitude"] for u in used + left_out] + [c["latitude"]]
    pad = max(0.3, 0.08 * max(max(lons) - min(lons), max(lats) - min(lats)))
    box = (min(lons) - pad, min(lats) - pad, max(lons) + pad, max(lats) + pad)
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    ax.set_facecolor("#e8f1f8")  # sea
    land = shorelines(box)
    for part in land or []:
        ax.add_patch(Polygon(part, closed=True, facecolor="#f3efe2", edgecolor="#777", linewidth=0.6, zorder=1))
    if left_out:
        ax.scatter([s["longitude"] for s in left_out], [s["latitude"] for s in left_out], marker="^", s=40,
                   c="0.75", edgecolors="0.4", linewidths=0.5, label=f"selected, left out ({len(left_out)})",
                   zorder=3)
    ax.scatter([u["longitude"] for u in used], [u["latitude"] for u in used], marker="^", s=55, c="tab:blue",
               edgecolors="k", linewidths=0.5, label=f"stations used ({len(used)})", zorder=3)
    for k, u in enumerate(used):  # labels alternately above and below: fewer collisions in a cluster
        ax.annotate(u["station"].split(".")[1], (u["longitude"], u["latitude"]), fontsize=7, zorder=4,
                    xytext=(4, 4 if k % 2 == 0 else -10), textcoords="offset points")
    if event and event.get("longitude") is not None:
        ax.scatter([event["longitude"]], [event["latitude"]], marker="o", s=60, facecolors="none",
                   edgecolors="k", linewidths=1.5, label="epicentre (catalogue)", zorder=4)
    ax.scatter([c["longitude"]], [c["latitude"]], marker="*", s=260, c="tab:red", edgecolors="k",
               linewidths=0.5, label="centroid", zorder=5)
    km_per_deg = 111.195 * max(0.2, math.cos(math.radians(c["latitude"])))
    length = _scale_km((box[2] - box[0]) * km_per_deg)
    x0, y0 = box[0] + 0.05 * (box[2] - box[0]), box[1] + 0.05 * (box[3] - box[1])
    ax.plot([x0, x0 + length / km_per_deg], [y0, y0], color="k", linewidth=3, solid_capstyle="butt", zorder=5)
    ax.text(x0 + 0.5 * length / km_per_deg, y0 + 0.02 * (box[3] - box[1]), f"{length:g} km", ha="center",
            fontsize=8, zorder=5)
    ax.set_xlim(box[0], box[2])
    ax.set_ylim(box[1], box[3])
    ax.set_xlabel("longitude (deg)")
    ax.set_ylabel("latitude (deg)")
    ax.set_aspect(1.0 / max(0.2, abs(math.cos(math.radians(c["latitude"])))))
    ax.legend(loc="upper right", fontsize=7, framealpha=0.9)
    if land is None:
        ax.set_title("no shoreline data installed (Debian's python-cartopy-data, or CMTFLOW_COASTLINES)",
                     fontsize=8)
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)
    return path


def airflow_link(af: dict) -> str:
    """The run in Airflow: a link that leaves the plugin's frame (``target="_top"``), absolute
    where the deployment names its address (``[api] base_url``: ``base_url``), so that a copy
    of the report opened as a file links there too; else relative to the API server."""
    if not af:
        return ""
    dag, run = html.escape(str(af.get("dag_id")), quote=True), html.escape(str(af.get("run_id")), quote=True)
    base = html.escape(str(af.get("base_url") or "").rstrip("/"), quote=True)
    return (f'<p>Airflow: DAG <code>{dag}</code>, run <a target="_top" href="{base}/dags/{dag}/runs/{run}">'
            f"<code>{run}</code></a></p>")


def _selected(run_dir: Path) -> list[dict]:
    """The stations the run selected (with their coordinates), where it kept its selection."""
    path = RunWorkspace.at(run_dir).selection_file
    return read_json(path).get("stations", []) if path.is_file() else []


def _row(name, value, note: str = "") -> str:
    """A table row; ``note``: a footnote mark (HTML) after the value."""
    return f"<tr><th>{html.escape(str(name))}</th><td>{html.escape(str(value))}{note}</td></tr>"


def _signed(value: float, digits: int = 2) -> str:
    """``value`` with its sign, never ``-0.00`` (a rounded zero has no sign)."""
    text = f"{value:+.{digits}f}"
    return text.replace("-", "+") if float(text) == 0 else text


def _plain(value: float, digits: int = 0) -> str:
    """``value`` rounded, never ``-0``."""
    text = f"{value:.{digits}f}"
    return text.lstrip("-") if float(text) == 0 else text


def _planes(planes: list[dict], spreads: list[dict] | None) -> str:
    spreads = spreads or [None for _ in planes]
    return "   ".join(plane_text(p, sd) for p, sd in zip(planes, spreads))


def write_report(run_dir: Path, solution: dict, provenance: dict) -> Path:
    """Write ``<run_dir>/report/index.html``; returns its path."""
    run_dir = Path(run_dir)
    target = run_dir / "report"
    with staging_folder(run_dir, "report") as tmp:
        for name in FIGURES:
            src = run_dir / "solution" / name
            if src.is_file():
                shutil.copy2(src, tmp / name)
        plot_station_map(solution, provenance.get("stations", {}), tmp / "stations.png", provenance.get("event"),
                         _selected(run_dir))
        (tmp / "index.html").write_text(_page(solution, provenance))
        replace_folder(tmp, target)
    return target / "index.html"


def _grade(q: dict, unc: dict) -> str:
    from cmtflow.inversion.grade import headline
    from cmtflow.inversion.quality import PRELIMINARY

    line = headline(q, unc)
    text = (f"{line[0].upper()}{line[1:]}. The numbers behind it: {q['stations']} stations, "
            f"{q['components']} components, azimuthal gap {q['azimuthal_gap_deg']:.0f}°, condition number "
            f"{q['condition_number']:.0f}; DC {_plain(q['dc_pct'])} %, CLVD {_plain(q['clvd_pct'])} %, "
            f"ISO {_plain(q['iso_pct'])} %")
    fit = (q.get("predictors") or {}).get("fit_all_windows")
    if fit is not None:
        text += (f"; fit over all candidate windows {fit:.2f}, "
                 f"{100 * q['predictors']['rejected_fraction']:.0f} % of them rejected")
    published = q.get("published_moment_tensor")
    if published:
        text += f"; to the catalogue's moment tensor: Kagan {published['kagan_angle_deg']:.0f}°, dMw {published['dmw']:+.2f}"
    text += "" if not q.get("grade_reasons") else f" (lowering it: {'; '.join(q['grade_reasons'])})"
    return text + (f". Status: {PRELIMINARY}" if q.get("status") == "preliminary" else "")


#: The headline variance reduction, as the report defines it (footnote 1).
VR_DEFINITION = ("1 - sum |d - s|^2 / sum |d|^2 over every window used, the final synthetics s shifted by the "
                 "centroid time shift only, unweighted: the share of the data's energy the solution explains")


def _other_fits(solution: dict) -> str:
    """The fit measures besides the headline, each named for what it is."""
    vr = solution["variance_reduction"]
    parts = [f"weighted, each window aligned by its own shift (what the inversion minimises): "
             f"{100 * vr['before']:.1f} % for the initial source -> {100 * vr['after']:.1f} %"]
    fit = ((solution.get("quality") or {}).get("predictors") or {}).get("fit_all_windows")
    if fit is not None:
        parts.append(f"fit over every candidate window, rejected ones too (the depth curve's measure): {fit:.2f}")
    return "; ".join(parts)


def _uncertainty(unc: dict) -> str:
    """The bootstrap's spread in words (``solution.json`` ``uncertainties``)."""
    text = unc.get("method", "")
    if unc.get("kagan_deg"):
        k = unc["kagan_deg"]
        text += (f": Kagan angle to the solution {k['median']:.0f}° (median), {k['p68']:.0f}° (68 %), "
                 f"{k['p90']:.0f}° (90 %); standard deviations beside each value above")
    elif unc.get("note"):
        text += f": {unc['note']}"
    return text


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering ``low``-``high`` (steps of 1, 2 or 5 times a power of ten)."""
    raw = (high - low) / max(1, count - 1)
    power = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def _curve_svg(points: list[tuple[float, float]], xlabel: str, best: float | None = None,
               sigma: float | None = None) -> str:
    """An inline SVG of variance reduction (%) against ``xlabel`` (with its unit): a framed plot
    with ticks and axis labels, the ``best`` value marked and its uncertainty (``best`` ±
    ``sigma``) shaded."""
    points = sorted((x, y) for x, y in points if y is not None)
    if len(points) < 2:
        return ""
    w, h, left, right, top, bottom = 560, 260, 64, 16, 14, 48
    xs, ys = [p[0] for p in points], [100 * p[1] for p in points]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    y0, y1 = (y0 - 1, y1 + 1) if y1 - y0 < 2 else (y0 - 0.05 * (y1 - y0), y1 + 0.05 * (y1 - y0))

    def sx(x):
        return left + (x - x0) / (x1 - x0) * (w - left - right)

    def sy(y):
        return top + (y1 - y) / (y1 - y0) * (h - top - bottom)

    parts = [f'<rect x="{left}" y="{top}" width="{w - left - right}" height="{h - top - bottom}" fill="none" '
             f'stroke="#444"/>']
    if best is not None and sigma:
        lo, hi = max(x0, best - sigma), min(x1, best + sigma)
        parts.append(f'<rect x="{sx(lo):.1f}" y="{top}" width="{max(0.0, sx(hi) - sx(lo)):.1f}" '
                     f'height="{h - top - bottom}" fill="#c00" fill-opacity="0.12"/>')
    for t in _ticks(x0, x1, 7):
        parts.append(f'<line x1="{sx(t):.1f}" y1="{h - bottom}" x2="{sx(t):.1f}" y2="{h - bottom + 5}" '
                     f'stroke="#444"/><text x="{sx(t):.1f}" y="{h - bottom + 18}" text-anchor="middle" '
                     f'font-size="12">{t:g}</text>')
    for t in _ticks(y0, y1, 5):
        parts.append(f'<line x1="{left - 5}" y1="{sy(t):.1f}" x2="{left}" y2="{sy(t):.1f}" stroke="#444"/>'
                     f'<text x="{left - 8}" y="{sy(t) + 4:.1f}" text-anchor="end" font-size="12">{t:g}</text>')
    line = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(xs, ys))
    parts.append(f'<polyline points="{line}" fill="none" stroke="#246"/>')
    parts += [f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="#246"><title>{x:g}: {y:.1f} %</title>'
              f'</circle>' for x, y in zip(xs, ys)]
    if best is not None:
        label = f"best {best:g}" + (f" ± {sigma:.1f}" if sigma else "")
        parts.append(f'<line x1="{sx(best):.1f}" y1="{top}" x2="{sx(best):.1f}" y2="{h - bottom}" stroke="#c00" '
                     f'stroke-dasharray="4"/><text x="{sx(best) + 4:.1f}" y="{h - bottom - 6}" font-size="12" '
                     f'fill="#c00">{html.escape(label)}</text>')
    parts.append(f'<text x="{(left + w - right) / 2:.1f}" y="{h - 8}" text-anchor="middle" font-size="13">'
                 f'{html.escape(xlabel)}</text>')
    parts.append(f'<text x="16" y="{(top + h - bottom) / 2:.1f}" text-anchor="middle" font-size="13" '
                 f'transform="rotate(-90 16 {(top + h - bottom) / 2:.1f})">fit (%)</text>')
    return (f'<svg width="{w}" height="{h}" role="img" aria-label="fit against {html.escape(xlabel)}">'
            + "".join(parts) + "</svg>")


def _searches(solution: dict) -> str:
    """The set-up (value and why) and the depth and half-duration curves."""
    setup = solution.get("setup") or {}
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(setup.get(k)))}</td>"
                   f"<td>{html.escape(str(why))}</td></tr>" for k, why in setup.get("reasons", {}).items())
    out = (f"<h2>Set-up</h2>{_passes(solution)}<table><tr><th>setting</th><th>value</th><th>why</th></tr>{rows}"
           "</table>") if rows else ""
    depth = solution.get("depth_search")
    if depth:
        low, high = depth["range_km"]
        sigma = f" &plusmn; {depth['uncertainty_km']:.1f}" if depth.get("uncertainty_km") is not None else ""
        out += (f"<h3>Depth search</h3><p>Best {depth['best_km']:.1f}{sigma} km; within 0.02 of its fit: "
                f"{low:.1f}-{high:.1f} km. Fit: {html.escape(depth['definition'])}.</p>"
                + _curve_svg([(c["depth_km"], c.get("variance_reduction")) for c in depth["curve"]],
                             "centroid depth (km)", depth["best_km"], depth.get("uncertainty_km")))
    duration = solution.get("half_duration_search")
    if duration:
        best = solution["centroid"]["half_duration_s"]
        out += (f"<h3>Half-duration search</h3><p>Best {best:.1f} s.</p>"
                + _curve_svg([(c["half_duration_s"], c.get("variance_reduction")) for c in duration],
                             "half duration (s)", best))
    return out


def _passes(solution: dict) -> str:
    """For a second pass, the first pass whose set-up it corrects; for a first pass whose Mw
    set up a second, that one."""
    setup = solution.get("setup") or {}
    first, second = setup.get("first_pass"), solution.get("second_pass")
    text = ""
    if first:
        s = first["setup"]
        text = (f"<p>Second pass. The first pass (run <code>{html.escape(first['run_id'])}</code>) was set up as "
                f"Mw {first['setup_mw']:.2f} ({s['tmin']:g}-{s['tmax']:g} s, {s['min_distance_km']:g}-"
                f"{s['max_distance_km']:g} km, model {html.escape(str(s['model']))}) and inverted Mw "
                f"{first['inverted_mw']:.2f} (grade {html.escape(str(first['grade']))}): "
                f"{html.escape(first['reason'])}.</p>")
    elif second:
        text = (f"<p>Set up again: {html.escape(second['reason'])}. The second pass is run "
                f"<code>{html.escape(second['run_id'])}</code>.</p>")
    return text


def _versions(solution: dict, prov: dict) -> str:
    """This solution's version and, when the run refined an earlier one (``start_from``),
    the two side by side (the MT3D report: the 1D answer and the 3D one)."""
    version = prov.get("version")
    start = solution.get("starting_solution")
    if not start:
        return f"<p>Version {version} of this event's solution.</p>" if version else ""
    conf = RunConf.from_dict(solution.get("run_conf", {}))
    change = start["change"]

    def column(sol: dict) -> list[str]:
        c, mt, vr = sol["centroid"], sol["moment_tensor_nm"], sol["variance_reduction"]
        planes = sol.get("nodal_planes") or []
        return [c["time"], f"{c['latitude']:.4f}, {c['longitude']:.4f}", f"{c['depth_km']:.2f}", f"{sol['mw']:.2f}",
                "  ".join(f"{p['strike']:.0f}/{p['dip']:.0f}/{p['rake']:.0f}" for p in planes),
                "  ".join(f"{mt[k]:.3e}" for k in ("Mrr", "Mtt", "Mpp", "Mrt", "Mrp", "Mtp")),
                f"{100 * vr['after']:.1f} %",
                str(sol.get("grade") or sol.get("quality", {}).get("grade", ""))]

    names = ["centroid time", "latitude, longitude", "depth (km)", "Mw", "nodal planes", "Mrr..Mtp (N·m)",
             "variance reduction", "grade"]
    changes = ["%+.2f s" % change["dtime_s"], "%.2f km" % change["shift_km"], "%+.2f" % change["ddepth_km"],
               "%+.2f" % change["dmw"], "", "", "", ""]
    rows = "".join(f"<tr><th>{html.escape(n)}</th><td>{html.escape(a)}</td><td>{html.escape(b)}</td>"
                   f"<td>{html.escape(d)}</td></tr>" for n, a, b, d in zip(names, column(start), column(solution),
                                                                           changes))
    head = (f"<tr><th></th><th>version {start['version']}: {html.escape(str(start['solver']))}, "
            f"<code>{html.escape(str(start['model']))}</code> (run {html.escape(start['run_id'])})</th>"
            f"<th>version {version}: {html.escape(conf.solver)}, <code>{html.escape(conf.model_label)}"
            f"</code> (this run)</th><th>change</th></tr>")
    return (f"<h2>Refined from version {start['version']}</h2><p>This run started from the event's published "
            f"solution of run <code>{html.escape(start['run_id'])}</code>. Kagan angle between the two: "
            f"<b>{change['kagan_deg']:.1f} deg</b>.</p><table>{head}{rows}</table>")


def _page(solution: dict, prov: dict) -> str:
    c = solution["centroid"]
    mt = solution["moment_tensor_nm"]
    planes = solution["nodal_planes"]
    unc = solution.get("uncertainties", {})
    vr = solution["variance_reduction"]
    table = "".join([
        _row("Event", solution["event_id"]),
        _row("Centroid time", c["time"] + (f"{pm(unc['centroid_time_s'], 1)} s" if unc.get("centroid_time_s")
                                           is not None else "")),
        _row("Centroid (lat, lon, depth)", f"{c['latitude']:.4f}, {c['longitude']:.4f}, {c['depth_km']:.2f}"
                                           f"{pm(unc.get('depth_km'), 1)} km"),
        _row("Mw / M0", f"{solution['mw']:.2f}{pm(unc.get('mw'), 2)} / {solution['m0_nm']:.3e} N·m"),
        *([_row("Catalogue magnitude", f"{solution['magnitude_check']['catalogue_type']} "
                                       f"{solution['magnitude_check']['catalogue']:.2f} (inverted Mw minus it: "
                                       f"{_signed(solution['magnitude_check']['difference'])}"
                                       f"{', flagged' if solution['magnitude_check']['flagged'] else ''})")]
          if solution.get("magnitude_check") else []),
        _row("Mrr Mtt Mpp Mrt Mrp Mtp (N·m)", "  ".join(f"{mt[k]:.3e}" for k in mt)),
        _row("Nodal planes (strike/dip/rake, deg)", _planes(planes, unc.get("nodal_planes"))),
        _row("Variance reduction", f"{100 * vr.get('plain', float('nan')):.1f} %",
             '<sup><a href="#vr" title="' + html.escape(VR_DEFINITION) + '">1</a></sup>'),
        _row("Other fit measures", _other_fits(solution)),
        *([_row("Quality grade", _grade(solution["quality"], unc))] if solution.get("quality") else []),
        _row("Kagan angle to the initial source", f"{solution['kagan_angle_to_initial_deg']:.1f} deg"),
        _row("Uncertainty (bootstrap)", _uncertainty(unc)),
        _row("Stations / windows used", f"{len(solution['stations_used'])} / {solution['windows']['used']} of "
                                        f"{solution['windows']['total']}"),
    ])
    sims = prov.get("simulations", [])
    sim_rows = "".join(f"<tr><td>{html.escape(s['variant'])}</td><td><code>{html.escape(s['key'])}</code></td>"
                       f"<td>{'reused' if s.get('reused') else 'computed'}</td></tr>" for s in sims)
    dropped = prov.get("stations", {}).get("dropped", [])
    drop_rows = "".join(f"<tr><td>{html.escape(d['station'])}</td><td>{html.escape(d['reason'])}</td></tr>"
                        for d in dropped)
    drop_rows += "".join(f"<tr><td>{html.escape(code)}</td><td>{html.escape(why)}</td></tr>"
                         for code, why in solution.get("stations_dropped", {}).items())
    processed = {p["station"]: p for p in prov.get("processed", {}).get("stations", [])}
    used_rows = "".join(
        f"<tr><td>{html.escape(u['station'])}</td><td>{u['distance_km']:.0f}</td><td>{u['azimuth']:.0f}</td>"
        f"<td>{html.escape(processed.get(u['station'], {}).get('components', ''))}</td>"
        f"<td>{html.escape(', '.join(u.get('channels', [])))}</td>"
        f"<td>{html.escape(str((u.get('units') or {}).get('source', '')))}</td>"
        f"<td>{html.escape('; '.join(u.get('decisions', []) + processed.get(u['station'], {}).get('notes', [])))}"
        f"</td></tr>" for u in prov.get("stations", {}).get("used", []))
    failed = prov.get("processed", {}).get("failed", [])
    fail_rows = "".join(f"<tr><td>{html.escape(d['station'])}</td><td>{html.escape(d['reason'])}</td></tr>"
                        for d in failed)
    left_out = (f"<h3>Stations left out</h3><table><tr><th>station</th><th>reason</th></tr>{drop_rows}{fail_rows}"
                "</table>") if drop_rows or fail_rows else "<h3>Stations left out</h3><p>None.</p>"
    conf = RunConf.from_dict(prov.get("conf", {}))
    event = prov.get("event", {})
    warnings = "".join(f'<p class="warning">&#9888; {html.escape(w)}</p>' for w in solution.get("warnings", []))
    airflow_line = airflow_link(prov.get("airflow") or {})
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>cmtflow: {html.escape(solution['event_id'])}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}th,td{{border:1px solid #ccc;padding:4px 8px;text-align:left}}
th{{background:#f4f4f4}}img{{max-width:100%;border:1px solid #eee}}
.warning{{background:#fff3cd;border:1px solid #e0b000;padding:6px 10px}}</style></head><body>
<h1>Centroid moment tensor: {html.escape(solution['event_id'])}</h1>
{warnings}
<table>{table}</table>
{_versions(solution, prov)}
<h2>Focal mechanism and stations</h2>
<img src="beachball.png" alt="beachball" width="360"> <img src="stations.png" alt="station map" width="480">
<h2>Waveform fits</h2><img src="waveforms.png" alt="waveform fits">
<h2>Misfit</h2><img src="misfit.png" alt="misfit histograms">
{_searches(solution)}
<h2>Provenance</h2>
<p>Event from {html.escape(str(event.get('provider', '')))} ({html.escape(str(event.get('time', '')))},
M{html.escape(str(event.get('magnitude', '')))}); solver {html.escape(conf.solver)}, model
<code>{html.escape(conf.model_label)}</code>,
band {conf.tmin}-{conf.tmax} s, {conf.n_params} parameters, data source
{html.escape(conf.data_source)}, compute backend {html.escape(conf.compute_backend)}.</p>
{airflow_line}
<h3>Simulations</h3><table><tr><th>source</th><th>key</th><th></th></tr>{sim_rows}</table>
<h3>Stations used</h3><table><tr><th>station</th><th>km</th><th>azimuth (deg)</th><th>components</th><th>channels</th>
<th>units from</th><th>decisions</th></tr>{used_rows}</table>
{left_out}
<p id="vr"><sup>1</sup> Variance reduction: {html.escape(VR_DEFINITION)}.</p>
<p>Products: <a href="../solution/solution.json">solution.json</a>, <a href="../solution/solution.xml">QuakeML</a>,
<a href="../solution/CMTSOLUTION">CMTSOLUTION</a>, <a href="../stations.json">stations.json</a>.</p>
</body></html>
"""
