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
    ("10 3.5 6.0 2.7 300 600\n", "half-space"),
    ("10 3.5 6.0 2.7\n0 4.5 6.0 3.3\n", r"layer 2: vp=6.0 must exceed vs\*sqrt\(2\)"),
    ("10 -3.5 6.0 2.7\n0 4.5 8.0 3.3\n", "velocities must be positive"),
    ("10 3.5 6.0 0\n0 4.5 8.0 3.3\n", "density must be positive"),
    ("10 3.5 6.0 2.7 0 600\n0 4.5 8.0 3.3\n", "Q must be positive"),
    ("0 3.5 6.0 2.7\n10 4.5 8.0 3.3\n", "must be the last line"),
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
