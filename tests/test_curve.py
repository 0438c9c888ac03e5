"""load_curve: the measured and shipped curves, the file formats it reads, and every bad case."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from crossbar_jax import CurveError, load_curve

REPO = Path(__file__).resolve().parents[1]
REFERENCE = Path(os.environ.get("CROSSBAR_JAX_REFERENCE", REPO.parent / "shared" / "reference"))
MEASURED = REFERENCE / "lsmo_gaq3_potentiation.csv"
SHIPPED = REPO / "data" / "lsmo_gaq3_model.csv"

G = [4.0e-7, 4.2e-7, 4.1e-7, 4.5e-7]  # synthetic conductances, siemens


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


# --------------------------------------------------------------------------- good files


def test_measured_curve_loads_as_measured():
    if not MEASURED.exists():
        pytest.skip(f"measured curve not found at {MEASURED} (published data, not in the repo)")
    g = load_curve(MEASURED)
    assert g.shape == (51,)
    assert g.dtype == np.float64
    assert g[0] == pytest.approx(4.54e-7, rel=1e-2)
    steps = np.diff(g)
    assert (steps < 0).any(), "the curve must be kept as measured, not sorted"
    assert np.all((g > 4e-7) & (g < 6e-7))


def test_shipped_model_curve_loads():
    g = load_curve(SHIPPED)
    assert g.ndim == 1 and g.size >= 2
    assert g.dtype == np.float64
    assert np.all((g > 1e-9) & (g < 1e-3))  # plausible conductances in siemens
    assert g[-1] > g[0]  # a potentiation curve


def test_csv_with_header(tmp_path):
    p = write(tmp_path, "c.csv", "Conductance(S)\n" + "\n".join(map(repr, G)) + "\n")
    np.testing.assert_array_equal(load_curve(p), G)


def test_csv_without_header(tmp_path):
    p = write(tmp_path, "c.csv", "\n".join(map(repr, G)))
    np.testing.assert_array_equal(load_curve(p), G)


def test_whitespace_dat_file(tmp_path):
    text = "pulse   G(S)\n" + "".join(f"{i}\t  {g!r}   \n" for i, g in enumerate(G))
    p = write(tmp_path, "c.dat", text)
    np.testing.assert_array_equal(load_curve(p, column=1), G)


def test_column_by_index_and_by_name(tmp_path):
    text = "pulse,V(V),G(S)\n" + "".join(f"{i},2.0,{g!r}\n" for i, g in enumerate(G))
    p = write(tmp_path, "c.csv", text)
    np.testing.assert_array_equal(load_curve(p, column=2), G)
    np.testing.assert_array_equal(load_curve(p, column=-1), G)
    np.testing.assert_array_equal(load_curve(p, column="G(S)"), G)


def test_sep_option(tmp_path):
    text = "pulse;G\n" + "".join(f"{i};{g!r}\n" for i, g in enumerate(G))
    p = write(tmp_path, "c.txt", text)
    np.testing.assert_array_equal(load_curve(p, sep=";", column="G"), G)


def test_skiprows_for_instrument_preamble(tmp_path):
    preamble = "Instrument: B1500A\nDate: 2024-01-01, 12:00\nV = 2 V; 50 ms\n"
    p = write(tmp_path, "c.csv", preamble + "G(S)\n" + "\n".join(map(repr, G)) + "\n")
    np.testing.assert_array_equal(load_curve(p, skiprows=3), G)


def test_comment_and_blank_lines_are_ignored(tmp_path):
    text = f"# device 7\nConductance(S)\n{G[0]!r}\n\n# mid-run note\n" + "\n".join(map(repr, G[1:]))
    p = write(tmp_path, "c.csv", text)
    np.testing.assert_array_equal(load_curve(p), G)


def test_header_option_forces_the_first_line(tmp_path):
    p = write(tmp_path, "c.csv", "\n".join(map(repr, G)))
    np.testing.assert_array_equal(load_curve(p, header=True), G[1:])


# --------------------------------------------------------------------------- bad files


def raises_naming(path: Path, match: str):
    """pytest.raises for a CurveError whose message names ``path`` and matches ``match``."""
    return pytest.raises(CurveError, match=re.escape(str(path)) + ".*" + match)


def test_missing_file(tmp_path):
    p = tmp_path / "nope.csv"
    with raises_naming(p, "not found"):
        load_curve(p)


def test_directory(tmp_path):
    with raises_naming(tmp_path, "is a directory"):
        load_curve(tmp_path)


def test_empty_file(tmp_path):
    p = write(tmp_path, "c.csv", "")
    with raises_naming(p, "empty"):
        load_curve(p)


def test_comments_only_file_is_empty(tmp_path):
    p = write(tmp_path, "c.csv", "# nothing measured\n\n")
    with raises_naming(p, "empty"):
        load_curve(p)


def test_header_only_file(tmp_path):
    p = write(tmp_path, "c.csv", "Conductance(S)\n")
    with raises_naming(p, r"header line \('Conductance\(S\)'\) but no data lines"):
        load_curve(p)


def test_non_numeric_cell_names_the_line(tmp_path):
    # comments and blank lines count: the bad cell is on line 5 of the file
    p = write(tmp_path, "c.csv", "Conductance(S)\n# note\n4e-7\n\n4.1e-7 nS\n4.2e-7\n")
    with raises_naming(p, r"line 5: non-numeric cell '4\.1e-7 nS'"):
        load_curve(p)


def test_empty_cell(tmp_path):
    p = write(tmp_path, "c.csv", "pulse,G\n0,4e-7\n1,\n2,4.2e-7\n")
    with raises_naming(p, "line 3: non-numeric cell ''"):
        load_curve(p, column="G")


def test_row_without_the_column(tmp_path):
    p = write(tmp_path, "c.csv", "pulse,G\n0,4e-7\n1\n")
    with raises_naming(p, "line 3 has 1 column"):
        load_curve(p, column=1)


def test_nan(tmp_path):
    p = write(tmp_path, "c.csv", "G\n4e-7\nnan\n4.2e-7\n")
    with raises_naming(p, r"NaN or infinite.*point 1 \(line 3\): nan"):
        load_curve(p)


def test_inf(tmp_path):
    p = write(tmp_path, "c.csv", "G\n4e-7\n4.1e-7\n-inf\n")
    with raises_naming(p, r"NaN or infinite.*point 2 \(line 4\): -inf"):
        load_curve(p)


def test_zero_conductance(tmp_path):
    p = write(tmp_path, "c.csv", "G\n4e-7\n0\n4.2e-7\n")
    with raises_naming(p, r"must be positive.*point 1 \(line 3\): 0\.0$"):
        load_curve(p)


def test_negative_conductance(tmp_path):
    p = write(tmp_path, "c.csv", "G\n4e-7\n4.1e-7\n-4.2e-7\n")
    with raises_naming(p, r"must be positive.*point 2 \(line 4\): -4\.2e-07$"):
        load_curve(p)


def test_fewer_than_two_points(tmp_path):
    p = write(tmp_path, "c.csv", "G\n4e-7\n")
    with raises_naming(p, "at least 2 points.*got 1"):
        load_curve(p)


def test_unknown_column_name(tmp_path):
    p = write(tmp_path, "c.csv", "pulse,G\n0,4e-7\n1,4.1e-7\n")
    with raises_naming(p, r"no column named 'Conductance\(S\)'.*\['pulse', 'G'\]"):
        load_curve(p, column="Conductance(S)")


def test_column_name_without_header(tmp_path):
    p = write(tmp_path, "c.csv", "4e-7\n4.1e-7\n")
    with raises_naming(p, "no column named 'G'.*absent"):
        load_curve(p, column="G")


def test_curve_error_is_a_value_error():
    assert issubclass(CurveError, ValueError)
