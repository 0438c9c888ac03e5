"""Curve files with a wrong layout or unit: hints that name the key to set, and warnings."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from crossbar_jax.app.config import ConfigError, validate_config
from crossbar_jax.curve import CurveError, layout_hint, load_curve, unit_warning

G = [float(4.5e-7 + 1e-9 * np.log1p(i)) for i in range(51)]  # plausible, in siemens


def _two_columns(tmp_path, sep=",", header="pulse,G(S)"):
    path = tmp_path / "two.csv"
    lines = [header] + [f"{i}{sep}{g!r}" for i, g in enumerate(G)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_two_column_file_names_device_curve_column(compose_cfg, tmp_path):
    path = _two_columns(tmp_path)
    with pytest.raises(ConfigError) as info:
        validate_config(compose_cfg(f"device.curve={path}"))
    msg = str(info.value)
    assert "positive" in msg  # the pulse column starts at 0
    assert "column 1 (0-based) looks like conductances" in msg
    assert "set device.curve_column=1" in msg
    spec = validate_config(compose_cfg(f"device.curve={path}", "device.curve_column=1"))
    np.testing.assert_array_equal(spec.curve, G)


def test_the_api_names_its_own_argument(tmp_path):
    with pytest.raises(CurveError, match=r"set column=1$"):
        load_curve(_two_columns(tmp_path))


def test_semicolon_file_names_device_curve_sep_and_accepts_its_name(compose_cfg, tmp_path):
    path = tmp_path / "semi.csv"
    path.write_text("".join(f"{i};{g!r}\n" for i, g in enumerate(G)))
    with pytest.raises(ConfigError) as info:
        validate_config(compose_cfg(f"device.curve={path}"))
    assert "set device.curve_sep=semicolon" in str(info.value)
    # "device.curve_sep=;" trips Hydra's override parser; the name needs no quoting
    spec = validate_config(
        compose_cfg(f"device.curve={path}", "device.curve_sep=semicolon", "device.curve_column=1")
    )
    np.testing.assert_array_equal(spec.curve, G)
    tab = tmp_path / "tab.txt"
    tab.write_text("".join(f"{i}\t{g!r}\n" for i, g in enumerate(G)))
    assert load_curve(tab, sep="tab", column=1).tolist() == G


def test_a_curve_in_nanosiemens_warns(compose_cfg, tmp_path, caplog):
    path = tmp_path / "ns.csv"
    path.write_text("Conductance(nS)\n" + "".join(f"{g * 1e9!r}\n" for g in G))
    with caplog.at_level(logging.WARNING, logger="crossbar_jax.app.config"):
        spec = validate_config(compose_cfg(f"device.curve={path}"))
    assert spec.curve.size == 51  # a warning, not an error: the user may mean it
    (record,) = [r for r in caplog.records if "implausible in siemens" in r.getMessage()]
    assert "ns.csv" in record.getMessage() and "multiply it by 1e-09" in record.getMessage()


def test_the_shipped_curve_and_plausible_curves_do_not_warn(compose_cfg, caplog):
    with caplog.at_level(logging.WARNING, logger="crossbar_jax.app.config"):
        validate_config(compose_cfg())
    assert not caplog.records
    assert unit_warning(np.array(G), "g") is None


def test_unit_warning_recognises_pulse_numbers_and_adds_the_layout_hint(tmp_path):
    path = tmp_path / "from_one.txt"
    path.write_text("n;G\n" + "".join(f"{i + 1};{g!r}\n" for i, g in enumerate(G)))
    g = load_curve(path, sep=";", column=0)  # 1, 2, ..., 51: loads, but is no curve
    hint = layout_hint(path, column=0, sep=";", keys={"column": "device.curve_column"})
    assert hint.endswith("set device.curve_column=1")
    text = unit_warning(g, "c.csv", hint=hint)
    assert "like pulse numbers" in text and text.endswith("set device.curve_column=1")
    assert "multiply" not in text
