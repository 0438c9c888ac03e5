"""Figures and report.md of runs and sweeps: files made, axes labelled, edge cases, links."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import crossbar_jax as cj
from crossbar_jax import stats
from crossbar_jax.app.report import make_run_outputs, make_sweep_outputs
from crossbar_jax.history import record_history
from crossbar_jax.plots import crossbars as xf
from crossbar_jax.plots import runs as rf
from crossbar_jax.plots import sweeps as sf

REPO = Path(__file__).resolve().parents[1]
E = 50


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def _check_png(path: Path) -> None:
    w, h = _png_size(path)
    # at the default 200 dpi a column-wide figure is ~680 px wide; a full-page one 1400 px
    assert 550 <= w <= 1500 and 350 <= h <= 1900, f"{path.name}: {w}x{h} px"
    assert path.stat().st_size > 15_000, f"{path.name} looks empty"


def _labelled(fig) -> None:
    """Every 2-D axes with data has a title (own or figure's) and both axis labels."""
    title = fig._suptitle.get_text() if fig._suptitle else ""
    for ax in fig.axes:
        if ax.name != "rectilinear" or not ax.has_data() or ax.get_label() == "<colorbar>":
            continue
        assert ax.get_title() or title
        assert ax.get_ylabel() or ax.get_subplotspec().colspan.start > 0
        assert ax.get_xlabel() or ax.get_subplotspec().rowspan.stop < ax.get_gridspec().nrows


def _results(rate: float, n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    conv = rng.random(n) < rate
    epoch = np.where(conv, rng.choice([2, 3, 4, 19, 20, 22], size=n), E)
    acc = rng.choice([0.0, 0.1, 0.2, 0.3], size=n)
    return pd.DataFrame(
        dict(
            crossbar=np.arange(n),
            converged=conv,
            epoch=epoch,
            final_error=np.where(conv, 0.0, 1.5),
            test_accuracy=acc,
        )
    )


def _summary(df: pd.DataFrame) -> dict:
    return stats.summarize(df.converged, df.epoch, df.test_accuracy, E)


@pytest.mark.parametrize("rate", [0.0, 0.3, 1.0])
def test_run_figures_every_outcome(tmp_path, rate):
    df = _results(rate)
    for fig in (
        rf.plot_epoch_histogram(df, epochs=E),
        rf.plot_kaplan_meier(df, epochs=E),
        rf.plot_test_accuracy(df),
    ):
        _labelled(fig)
    paths = rf.run_figures(tmp_path, df, epochs=E)
    assert set(paths) == {"epoch_histogram", "kaplan_meier", "test_accuracy"}
    for p in paths.values():
        assert p.parent == tmp_path / "figures"
        _check_png(p)


def test_run_outputs_with_history(tmp_path):
    curve = cj.load_curve(REPO / "data" / "lsmo_gaq3_model.csv")
    shifts = np.asarray(cj.sample_shifts(2, 12, (4, 4), low=1e-9, high=1e-8))
    hist = record_history(
        shifts, curve=curve, beta=1e7, positive_target=0.5, negative_target=-0.5, k=10.0
    )
    hist = hist._replace(
        **{
            f: getattr(hist, f)[:1]
            for f in (
                "crossbar",
                "pulses",
                "conductances",
                "weights",
                "activations",
                "error",
                "converged",
                "epoch",
                "final_pulses",
                "final_conductances",
            )
        }
    )
    for plot in (xf.plot_conductances, xf.plot_weights, xf.plot_activations, xf.plot_error):
        _labelled(plot(hist, 0))
    df = _results(0.3)
    summary = _summary(df)
    out = make_run_outputs(
        tmp_path,
        df,
        summary,
        history=hist,
        params={"training": {"beta": 1e7, "epochs": E}, "seed": 2},
    )
    figures = {k: v for k, v in out.items() if k != "report"}
    assert len(figures) == 3 + 5
    for p in figures.values():
        _check_png(p)
    text = out["report"].read_text()
    assert out["report"] == tmp_path / "report.md"
    lo, hi = summary["convergence_rate_ci95"]
    assert "| statistic | value |" in text and "| training.beta | 1e+07 |" in text
    assert f"{lo:.4g} to {hi:.4g}" in text
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(links) == len(figures)
    assert all((tmp_path / link).is_file() for link in links)
    assert not list(tmp_path.glob(".*tmp"))  # atomic writes leave no temporary files


def _sweep(grid: dict, optional: bool = True) -> pd.DataFrame:
    rows = []
    for i, values in enumerate(pd.MultiIndex.from_product(list(grid.values()))):
        row = dict(zip(grid, values, strict=True))
        n, k = 1000, int(1000 * (0.1 + 0.8 * ((i * 37) % 11) / 10))
        row.update(n_crossbars=n, convergence_rate=k / n)
        if optional:
            row["ci_low"], row["ci_high"] = stats.wilson_interval(k, n)
            row.update(
                epoch_p10=2,
                epoch_p50=3 + i % 5,
                epoch_p90=20,
                km_median_epoch=None,
                mean_test_accuracy=0.1,
            )
        rows.append(row)
    return pd.DataFrame(rows)


def test_sweep_outputs_two_parameters(tmp_path):
    df = _sweep({"training.beta": [3e6, 1e7, 3e7], "device.k": [5.0, 10.0]})
    _labelled(sf.plot_rate_heatmap(df, "training.beta", "device.k"))
    out = make_sweep_outputs(tmp_path, df, ["training.beta", "device.k"])
    assert {
        "heatmap_device_k_vs_training_beta",
        "rate_vs_beta_k",
        "epochs_vs_training_beta",
        "epochs_vs_device_k",
    } <= set(out)
    for name, p in out.items():
        if name != "report":
            _check_png(p)
    text = out["report"].read_text()
    assert "## Statistics per point" in text and text.count("| 3e+06 |") == 2
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert links and all((tmp_path / link).is_file() for link in links)


def test_sweep_one_parameter_linked_targets_and_missing_columns(tmp_path):
    one = _sweep({"training.beta": [3e6, 1e7, 3e7, 1e8]}, optional=False)
    out = sf.sweep_figures(tmp_path / "one", one, ["training.beta"])
    assert "rate_vs_training_beta" in out and not any(k.startswith("heatmap") for k in out)
    np.testing.assert_allclose(
        sf.interval_columns(one)[0][0],
        stats.wilson_interval(round(one.convergence_rate[0] * 1000), 1000)[0],
    )
    # t- swept together with t+ is one parameter: the heatmap is t+ against beta
    two = _sweep({"training.beta": [1e7, 2e7], "training.positive_target": [0.5, 0.8]})
    two["training.negative_target"] = -two["training.positive_target"]
    out = sf.sweep_figures(
        tmp_path / "two",
        two,
        ["training.beta", "training.positive_target", "training.negative_target"],
    )
    assert "heatmap_training_positive_target_vs_training_beta" in out
    assert not any("negative" in k for k in out)
    with pytest.raises(ValueError, match="convergence_rate"):
        sf.sweep_figures(tmp_path, one.drop(columns="convergence_rate"), ["training.beta"])


def test_sweep_over_a_word_column_with_an_unset_job(tmp_path):
    """A partial sweep of experiment=nonidealities (the ideal case and online training):
    training.mode is unset (NaN) in the ideal job and a word in the others. The rate figure
    labels its axis with the words, "default" for the unset job."""
    df = _sweep({"training.mode": ["online"], "case": [0, 1, 2]})
    df["training.mode"] = [np.nan, "online", "online"]
    out = sf.sweep_figures(tmp_path, df, ["training.mode"])
    _check_png(out["rate_vs_training_mode"])
    for plot in (sf.plot_rate_line, sf.plot_epoch_quantiles):
        fig = plot(df, "training.mode")
        labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
        assert labels == ["default", "online"]
