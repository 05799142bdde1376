"""1D models: FK format, shipped models, validation."""

from __future__ import annotations

import numpy as np
import pytest

from cmtflow.errors import ModelError
from cmtflow.models import load_model, named_models, read_fk_model


def test_reads_fk_reference_model(shared_data):
    m = read_fk_model(shared_data / "fk-reference-scak" / "scak.fkmodel")
    assert len(m.thickness) == 9 and m.thickness[-1] == 0
    assert (m.vs[0], m.vp[0], m.rho[0], m.qs[0], m.qp[0]) == (3.01, 5.3, 2.52, 300.0, 600.0)
    assert m.halfspace_depth == pytest.approx(66.0)
    assert m.layer_index(2.0) == 0 and m.layer_index(4.0) == 1 and m.layer_index(70) == 8
    # the shipped scak is the same model
    assert load_model("scak").fingerprint() == m.fingerprint()


def test_shipped_models_load_and_validate():
    names = named_models()
    assert {"scak", "socal", "ak135"} <= set(names)
    ak = load_model("ak135")
    assert ak.vp[0] == pytest.approx(5.8) and ak.vs[1] == pytest.approx(3.85)  # ak135 continental crust
    assert ak.halfspace_depth == pytest.approx(660.0)
    assert np.all(np.diff(ak.vs[2:]) > 0)  # upper mantle velocities increase with depth


def test_missing_columns_take_fk_defaults(tmp_path):
    path = tmp_path / "m.txt"
    path.write_text("10 3.5 6.0\n0 4.5 8.0\n")
    m = read_fk_model(path)
    assert m.rho[0] == pytest.approx(0.77 + 0.32 * 6.0)
    assert (m.qs[0], m.qp[0]) == (500.0, 1000.0)


@pytest.mark.parametrize("text, message", [
    ("10 3.5 6.0 2.7\n0 4.5 6.0 3.3\n", r"bad.fkmodel:2: vp/vs 1.333 \(vp 6, vs 4.5\) outside 1.4-3"),
    ("10 -3.5 6.0 2.7\n0 4.5 8.0 3.3\n", r"bad.fkmodel:1: vs -3.5 km/s must be positive"),
    ("0.5 0 1.5 1.0\n10 3.5 6.0 2.7\n10 0 1.5 1.0\n0 4.5 8.0 3.3\n", r"bad.fkmodel:3: vs 0 km/s must be positive"),
    ("10 3.5 6.0 0\n0 4.5 8.0 3.3\n", r"bad.fkmodel:1: density 0 g/cm³ outside 1-6"),
    ("10 3.5 6.0 2.7 99999.9 600\n0 4.5 8.0 3.3\n", r"bad.fkmodel:1: Qs 99999.9 outside 10-5000"),
    ("10 3.5 6.0 2.7 300 60000\n0 4.5 8.0 3.3\n", r"bad.fkmodel:1: Qp 60000 outside 10-5000"),
    ("10 3.5 6.0 12.0\n0 4.5 8.0 3.3\n", r"bad.fkmodel:1: density 12 g/cm³ outside 1-6"),
    ("10 3500 6000 2.7\n0 4500 8000 3.3\n", r"bad.fkmodel:1: vp 6000 km/s outside 0.3-15 km/s \(velocities in m/s"),
    ("0 3.5 6.0 2.7\n10 4.5 8.0 3.3\n", "thickness 0 on the first line.*add a header line"),
    ("5 3.5 6.0 2.7\n0 4.0 7.0 2.9\n0 4.5 8.0 3.3\n", "bad.fkmodel:2: thickness 0 .* must be the last line"),
    ("10 3.5 six 2.7\n0 4.5 8.0 3.3\n", "expected numbers"),
    ("10 3.5\n0 4.5 8.0 3.3\n", "3 to 6 columns"),
    ("", "no layers"),
])
def test_invalid_models_are_refused(tmp_path, text, message):
    path = tmp_path / "bad.fkmodel"
    path.write_text(text)
    with pytest.raises(ModelError, match=message):
        read_fk_model(path)


def test_unknown_model_name():
    with pytest.raises(ModelError, match="unknown model 'mars'"):
        load_model("mars")


# --------------------------------------------------------------------------- model files as they come
SCAK_ROWS = [(4.0, 3.01, 5.3, 2.52, 300.0, 600.0), (5.0, 3.18, 5.6, 2.61, 300.0, 600.0),
             (0.0, 3.52, 6.2, 2.78, 300.0, 600.0)]


def _fk_density(vp):
    return 0.77 + 0.32 * vp


def test_fk_four_columns_thickness_vs_vp_qs(tmp_path):
    """The original FK convention of the issue: a 4th column above 20 is Qs; density then
    comes from vp, as fk.pl computes it (before: density 300 g/cm³ and Mw off by units)."""
    path = tmp_path / "scak4.fk"
    path.write_text("".join(f"{h} {vs} {vp} {qs}\n" for h, vs, vp, _, qs, _ in SCAK_ROWS))
    m = read_fk_model(path)
    assert m.rho == pytest.approx([_fk_density(vp) for _, _, vp, *_ in SCAK_ROWS])
    assert m.qs == pytest.approx([300.0] * 3) and m.qp == pytest.approx([600.0] * 3)
    assert any("4th column above 20 read as Qs" in n for n in m.notes)


def test_fk_fifth_column_is_ignored_when_the_fourth_is_qs(tmp_path):
    path = tmp_path / "m.fk"
    path.write_text("10 3.5 6.0 300 999\n0 4.5 8.0 400 999\n")
    m = read_fk_model(path)
    assert m.qs == pytest.approx([300, 400]) and m.qp == pytest.approx([600, 800])  # fk.pl: qa = 2 qb
    assert any("5th column ignored" in n for n in m.notes)


def test_fk_vp_vs_ratio_in_the_third_column(tmp_path):
    path = tmp_path / "ratio.fk"
    path.write_text("4 3.01 1.76 2.52 300 600\n0 4.72 1.76 3.37 300 600\n")
    m = read_fk_model(path)
    assert m.vp == pytest.approx([3.01 * 1.76, 4.72 * 1.76])
    assert any("Vp/Vs ratio" in n for n in m.notes)


def test_fk_last_line_is_the_half_space_whatever_its_thickness(tmp_path):
    path = tmp_path / "m.fk"
    path.write_text("10 3.5 6.0 2.7 300 600\n25 4.5 8.0 3.3 500 1000\n")
    m = read_fk_model(path)
    assert list(m.thickness) == [10.0, 0.0]
    assert any("its thickness 25 km is ignored" in n for n in m.notes)


def test_fk_water_layer_on_top_is_read_and_the_solver_says_why_it_cannot(tmp_path):
    from cmtflow.errors import SolverError
    from cmtflow.solvers.fk import check_source_depth

    path = tmp_path / "ocean.fk"
    path.write_text("2.0 0 1.5 1.0\n10 3.5 6.0 2.7 300 600\n0 4.5 8.0 3.3 500 1000\n")
    m = read_fk_model(path)
    assert m.water_layers == 1 and m.vp[0] == 1.5 and m.rho[0] == 1.0
    with pytest.raises(SolverError, match="water layer on top"):
        check_source_depth(m, 8.0)


def test_isola_crustal_dat(shared_data):
    m = read_fk_model(shared_data / "sargans-2013-12-12" / "crustal.dat")
    assert list(np.round(m.interfaces, 3)) == [4.0, 7.2, 8.2, 10.4, 15.0, 30.0]
    assert (m.vp[0], m.vs[0], m.rho[0], m.qp[0], m.qs[0]) == (4.8, 2.66, 2.7, 300.0, 150.0)
    assert (m.vp[-1], m.vs[-1], m.thickness[-1]) == (7.0, 3.88, 0.0)


def test_cps_model96(tmp_path):
    rows = "".join(f"  {h:8.4f} {vp:8.4f} {vs:8.4f} {rho:8.4f} {qp:8.1f} {qs:10.6f} 0.00 0.00 1.00 1.00\n"
                   for h, vs, vp, rho, qs, qp in [(4.0, 3.01, 5.3, 2.52, 1 / 300.0, 600.0),
                                                  (5.0, 3.18, 5.6, 2.61, 300.0, 0.0), (0.0, 3.52, 6.2, 2.78, 300.0, 600.0)])
    path = tmp_path / "scak.m96"
    path.write_text("MODEL.01\nscak\nISOTROPIC\nKGS\nFLAT EARTH\n1-D\nCONSTANT VELOCITY\nLINE08\nLINE09\nLINE10\nLINE11\n"
                    "      H(KM)   VP(KM/S)   VS(KM/S) RHO(GM/CC)     QP         QS       ETAP       ETAS      "
                    "FREFP      FREFS\n" + rows)
    m = read_fk_model(path)
    assert m.vp == pytest.approx([5.3, 5.6, 6.2]) and m.vs == pytest.approx([3.01, 3.18, 3.52])
    assert m.qs == pytest.approx([300.0, 300.0, 300.0], rel=1e-3)  # 1/Q 0.003333 is Q 300
    assert m.qp[1] == 5000.0 and any("elastic" in n for n in m.notes)  # 1/Q = 0: elastic
    path.write_text(path.read_text().replace("FLAT EARTH", "SPHERICAL EARTH"))
    with pytest.raises(ModelError, match="SPHERICAL EARTH"):
        read_fk_model(path)


def test_tables_with_a_header_row(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("depth vp vs rho\n0 5.3 3.01 2.52\n4 5.6 3.18 2.61\n9 6.2 3.52 2.78\n")
    m = read_fk_model(plain)
    assert list(m.thickness) == [4.0, 5.0, 0.0] and m.vp == pytest.approx([5.3, 5.6, 6.2])
    assert m.qs == pytest.approx([500.0] * 3)
    # mtinv's own layout (LLNL/mtinv data/modeldb): "# thick vp qp vs qb rho"
    mtinv = tmp_path / "cus.mod"
    mtinv.write_text("### Central US\n# thick  vp     qp     vs       qb   rho\n   0.9  5.00   581.0  2.89   258.0   2.50\n"
                     "   9.0  6.10   625.0  3.52   275.5   2.73\n 700.0  8.15   515.4  4.70   232.0   3.36\n")
    m = read_fk_model(mtinv)
    assert list(m.thickness) == [0.9, 9.0, 0.0]
    assert (m.vs[1], m.vp[1], m.rho[1], m.qs[1], m.qp[1]) == (3.52, 6.10, 2.73, 275.5, 625.0)
    # the same plain table without its header reads as FK and is refused, saying what to add
    headless = tmp_path / "headless.txt"
    headless.write_text("0 5.3 3.01 2.52\n4 5.6 3.18 2.61\n9 6.2 3.52 2.78\n")
    with pytest.raises(ModelError, match="headless.txt:1: thickness 0 on the first line.*header line"):
        read_fk_model(headless)


def test_shipped_model_comment_lines_are_not_a_header():
    assert load_model("scak").notes == ("read as FK",)


def test_models_command_prints_the_layers_as_read(tmp_path, capsys):
    from cmtflow.cli import main

    path = tmp_path / "scak4.fk"
    path.write_text("".join(f"{h} {vs} {vp} {qs}\n" for h, vs, vp, _, qs, _ in SCAK_ROWS))
    assert main(["models", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{_fk_density(5.3):6.3f}" in out and "4th column above 20 read as Qs" in out


@pytest.mark.parametrize("name, reference", [("aegean", "Novotny, Zahradnik & Tselentis (2001)"),
                                             ("japan", "Kubo, Fukuyama, Kawai &"),
                                             ("oceanic", "Crawford, Hildebrand, Dorman, Webb & Wiens (2003)")])
def test_regional_models_cite_their_source_in_the_file(name, reference):
    from importlib import resources

    text = (resources.files("cmtflow.models") / "named" / f"{name}.fkmodel").read_text()
    assert reference in text.replace("\n# ", " ")
    model = load_model(name)
    assert model.halfspace_depth >= 300.0  # they reach the mantle the long periods sample


def test_the_f_net_model_is_the_published_one():
    """The F-net structure (Kubo et al. 2002; F-net FAQ 17): depth, thickness, Vp, Vs, density."""
    m = load_model("japan")
    published = [(0, 3, 5.50, 3.14, 2.3), (3, 15, 6.00, 3.55, 2.4), (18, 15, 6.70, 3.83, 2.8),
                 (33, 67, 7.80, 4.46, 3.2), (100, 125, 8.00, 4.57, 3.3), (225, 100, 8.40, 4.80, 3.4),
                 (325, 100, 8.60, 4.91, 3.5), (425, 0, 9.30, 5.31, 3.7)]
    tops = np.concatenate([[0.0], m.interfaces])
    assert np.allclose(np.column_stack([tops, m.thickness, m.vp, m.vs, m.rho]), published)


def test_earth_flattening_gives_the_spherical_travel_times():
    """First P and S arrivals (source 10 km deep) at 300-2000 km in ak135 flattened against
    TauP's spherical ak135: within 0.7 s, where the flat model is 5 s off at 2000 km."""
    from obspy.geodetics import kilometers2degrees
    from obspy.taup import TauPyModel

    from cmtflow.solvers.traveltimes import first_arrival

    taup = TauPyModel("ak135")
    distances = [300.0, 600.0, 1000.0, 1500.0, 2000.0]
    flat, flattened = load_model("ak135"), load_model("flat:ak135")
    for phases, velocity in ((["p", "P", "Pn"], "vp"), (["s", "S", "Sn"], "vs")):
        spherical = np.array([min(a.time for a in taup.get_travel_times(10.0, kilometers2degrees(d), phases))
                              for d in distances])
        good = first_arrival(flattened.thickness, getattr(flattened, velocity), 10.0, distances)
        bad = first_arrival(flat.thickness, getattr(flat, velocity), 10.0, distances)
        assert np.max(np.abs(good - spherical)) < 0.7
        assert abs(bad[-1] - spherical[-1]) > 4.0
    assert flattened.name == "ak135-flat" and flattened.fingerprint() != flat.fingerprint()
