"""What the commands that run without Airflow share: the set-up from their arguments, and the
grade line they print."""

from __future__ import annotations


def setup_from_args(args, latitude: float, longitude: float, magnitude: float, magnitude_type: str,
                    setup_mw: float | None = None):
    """The set-up of ``fetch`` and ``invert`` (:func:`cmtflow.inversion.setup.event_setup`, the
    DAG's): the arguments given (band, dt, model, distances) kept, the rest chosen by magnitude
    (or ``setup_mw``, a second pass's) and region, printed with the reasons."""
    from cmtflow.inversion.setup import event_setup
    from cmtflow.processing import Band
    from cmtflow.runconf import RunConf

    band = Band.parse(args.band) if getattr(args, "band", None) else None
    given = RunConf(tmin=band and band.tmin, tmax=band and band.tmax, dt=getattr(args, "dt", None),
                    model=getattr(args, "model", None) or RunConf.model,
                    min_distance_km=getattr(args, "min_distance", None),
                    max_distance_km=getattr(args, "max_distance", None), setup_mw=setup_mw)
    setup = event_setup(given, latitude, longitude, magnitude, magnitude_type)
    chosen = [k for k in ("tmin", "dt", "model", "min_distance_km") if setup.reasons.get(k) != "given"]
    if chosen:
        print(f"set-up for {setup.reasons['moment_magnitude']} (Mw {setup.moment_magnitude:.1f}): band "
              f"{setup.tmin:g}-{setup.tmax:g} s ({setup.reasons['tmin']}), dt {setup.dt:g} s, model {setup.model} "
              f"({setup.reasons['model']}), distances {setup.min_distance_km:g}-{setup.max_distance_km:g} km")
    return setup


def answer_line(solution: dict) -> str:
    """The answer on one line (``solution.json``): Mw, depth, centroid time and both nodal planes,
    each with its bootstrap standard deviation where there is one, and the variance reduction
    (the plain one: the share of the data's energy the solution explains)."""
    from cmtflow.report.text import plane_text, pm

    unc = solution.get("uncertainties") or {}
    c = solution["centroid"]
    spreads = unc.get("nodal_planes") or [None, None]
    planes = ", ".join(plane_text(p, sd) for p, sd in zip(solution["nodal_planes"], spreads))
    return (f"Mw {solution['mw']:.2f}{pm(unc.get('mw'), 2)}, depth {c['depth_km']:.1f}{pm(unc.get('depth_km'), 1)} "
            f"km, centroid {c['time']}{pm(unc.get('centroid_time_s'), 1)} s, planes {planes}, variance reduction "
            f"{100 * solution['variance_reduction']['plain']:.1f} %")


def quality_line(solution: dict) -> str:
    """One line for the terminal: the grade with its measured meaning and the numbers behind it."""
    from cmtflow.inversion.grade import headline

    q = solution["quality"]
    return (f"{headline(q, solution.get('uncertainties'))}: plain VR {100 * q['variance_reduction_plain']:.0f} %, "
            f"{q['stations']} stations, {q['components']} components, azimuthal gap {q['azimuthal_gap_deg']:.0f} deg, "
            f"condition number {q['condition_number']:.0f}, DC {q['dc_pct']:.0f} % CLVD {q['clvd_pct']:.0f} %"
            + (f" (lowering it: {'; '.join(q['grade_reasons'])})" if q.get("grade_reasons") else ""))
