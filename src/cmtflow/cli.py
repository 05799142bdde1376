"""The ``cmtflow`` command line.

Every input problem is reported as one line ``error: ...`` with exit status 2; nothing
is left behind that looks like a complete product.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from cmtflow.errors import CmtflowError

log = logging.getLogger("cmtflow")


def _float_list(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _fk_params(args):
    from cmtflow.solvers.fk import FKParameters

    return FKParameters(fmax=args.fmax)


def cmd_greens(args) -> int:
    from cmtflow.models import load_model
    from cmtflow.solvers.sac_io import write_fk_sac
    from cmtflow.solvers.store import GreensStore

    model = load_model(args.model)
    t = time.perf_counter()
    greens, reused = GreensStore(args.data_root).get(model, args.depth, args.distances, args.dt, args.npts,
                                                     _fk_params(args))
    folder = write_fk_sac(greens, args.out)
    print(f"{'reused' if reused else 'computed'} Green's functions for {len(greens.distances_km)} distances "
          f"in {time.perf_counter() - t:.2f} s -> {folder}")
    return 0


def cmd_synth(args) -> int:
    from cmtflow.data.stations import read_stations
    from cmtflow.solvers.store import GreensStore
    from cmtflow.solvers.synthetics import synthetics
    from cmtflow.source import read_source

    source = read_source(args.source)
    inventory = read_stations(args.stations)
    t = time.perf_counter()
    stream, geometry = synthetics(source, inventory, args.model, args.dt, args.npts, args.components,
                                  _fk_params(args), GreensStore(args.data_root))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".synth.", dir=out))
    try:
        files = []
        for g in geometry:
            sta = g["station"]
            st = stream.select(network=sta.network, station=sta.station, location=sta.location)
            name = f"{sta.code}.mseed"
            st.write(str(tmp / name), format="MSEED", encoding="FLOAT64")
            files.append({"file": name, "network": sta.network, "station": sta.station, "location": sta.location,
                          "distance_km": round(g["distance_km"], 4), "azimuth": round(g["azimuth"], 4),
                          "back_azimuth": round(g["back_azimuth"], 4), "starttime": g["starttime"]})
        manifest = {"source": str(args.source), "event_id": source.event_id, "model": str(args.model),
                    "units": "m", "quantity": "displacement", "components": args.components,
                    "dt": args.dt, "npts": args.npts, "stations": files}
        (tmp / "synthetics.json").write_text(json.dumps(manifest, indent=1))
        for f in files:  # the manifest goes last: it marks the set complete
            os.replace(tmp / f["file"], out / f["file"])
        os.replace(tmp / "synthetics.json", out / "synthetics.json")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"wrote {len(files)} stations x {len(args.components)} components of displacement (m) "
          f"in {time.perf_counter() - t:.2f} s -> {out}")
    return 0


def cmd_models(args) -> int:
    from cmtflow.models import load_model, named_models

    for name in named_models():
        m = load_model(name)
        print(f"{name:10s} {len(m.thickness) - 1:3d} layers over a half-space at {m.halfspace_depth:.1f} km")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cmtflow", description="Rapid earthquake source inversion (CMT3D).")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress")
    p.add_argument("--data-root", default=None, help="data root (default: $CMTFLOW_HOME or ~/cmtflow)")
    sub = p.add_subparsers(dest="command", required=True)

    def solver_options(sp):
        sp.add_argument("--model", required=True, help="shipped model name (see 'cmtflow models') or FK model file")
        sp.add_argument("--dt", type=float, default=0.2, help="sampling interval in s (default 0.2)")
        sp.add_argument("--npts", type=int, default=1024, help="samples per trace, a power of two (default 1024)")
        sp.add_argument("--fmax", type=float, default=None,
                        help="highest frequency computed, Hz (default: Nyquist); output is band-limited to it")

    g = sub.add_parser("greens", help="Green's functions of the fundamental sources as FK-convention SAC files")
    solver_options(g)
    g.add_argument("--depth", type=float, required=True, help="source depth in km")
    g.add_argument("--distances", type=_float_list, required=True, help="comma-separated epicentral distances in km")
    g.add_argument("--out", required=True, help="output folder; files go to OUT/<model>_<depth>/<dist>.grn.<ext>")
    g.set_defaults(func=cmd_greens)

    s = sub.add_parser("synth", help="3-component displacement synthetics (miniSEED, m) for a source and stations")
    solver_options(s)
    s.add_argument("--source", required=True, help="CMTSOLUTION or QuakeML file")
    s.add_argument("--stations", required=True, help="StationXML or SPECFEM STATIONS file")
    s.add_argument("--components", choices=("ZRT", "ZNE"), default="ZRT", help="output components (default ZRT)")
    s.add_argument("--out", required=True, help="output folder (one NET.STA.LOC.mseed per station + synthetics.json)")
    s.set_defaults(func=cmd_synth)

    m = sub.add_parser("models", help="list the shipped 1D models")
    m.set_defaults(func=cmd_models)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except CmtflowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
