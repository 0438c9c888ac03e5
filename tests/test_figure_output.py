"""Figure formats, the grid's opt-in point figures, the figure fixes, progress and phase logs."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import crossbar_jax as cj
from crossbar_jax.app.config import ConfigError, validate_config
from crossbar_jax.app.study import run_study
from crossbar_jax.history import record_history
from crossbar_jax.plots import crossbars as xf
from crossbar_jax.plots import runs as rf
from crossbar_jax.plots import sweeps as sf
from crossbar_jax.plots.style import figure_output, param_label

REPO = Path(__file__).resolve().parents[1]
SMALL = ("mc.n_crossbars=256", "mc.progress=false", "training.beta=2e7")


def _texts(fig) -> str:
    parts = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        parts += [t.get_text() for t in ax.texts]
    return " ".join(parts)


def _results(n: int, n_converged: int) -> pd.DataFrame:
    converged = np.zeros(n, bool)
    converged[:n_converged] = True
    return pd.DataFrame(
        {
            "crossbar": np.arange(n),
            "converged": converged,
            "epoch": np.where(converged, 3, 50),
            "final_error": np.where(converged, 0.0, 1.0),
            "test_accuracy": np.where(converged, 0.6, 0.0),
        }
    )


def test_few_converged_figures_say_so():
    few = _results(100_000, 3)
    hist = rf.plot_epoch_histogram(few, epochs=50)
    assert "only 3 crossbars converged: too few for quantiles" in _texts(hist)
    assert not hist.axes[0].get_legend()  # no median line drawn from 3 values
    acc = rf.plot_test_accuracy(few)
    assert "only 3 of 100,000 converged" in _texts(acc) and "0.600" in _texts(acc)
    assert "no crossbar converged" in _texts(rf.plot_test_accuracy(_results(500, 0)))
    many = _results(1000, 400)
    assert "too few" not in _texts(rf.plot_epoch_histogram(many, epochs=50))
    assert "converged" not in _texts(rf.plot_test_accuracy(many)).replace("not converged", "")


def test_heatmap_cells_stay_short_for_tiny_intervals():
    assert sf._cell_interval(0.0, 3.7e-5) == "[0,<.001]"
    assert sf._cell_interval(1.0e-5, 8.8e-5) == "[<.001]"
    assert sf._cell_interval(0.3547, 0.3606) == "[.35,.36]"
    assert sf._cell_interval(0.99, 1.0) == "[.99,1]"
    assert sf._cell_interval(0.9996, 1.0) == "[1]"


def test_linear_parameter_axes_have_no_multiplier_or_offset():
    df = pd.DataFrame(
        {
            "training.beta": [6e6, 1e7, 2e7],
            "convergence_rate": [0.1, 0.2, 0.3],
            "n_crossbars": [1000] * 3,
        }
    )
    fig = sf.plot_rate_line(df, "training.beta")
    fig.canvas.draw()
    ax = fig.axes[0]
    assert ax.get_xscale() == "linear"
    assert ax.xaxis.get_offset_text().get_text() == ""
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert labels and all("e" in t or t == "0" for t in labels), labels  # "1e7", "2e7"


def test_the_multiplication_factor_is_k_as_in_the_config():
    assert param_label("device.k") == "k"
    assert "k" in param_label("beta_k") and "K" not in param_label("beta_k")


@pytest.fixture(scope="module")
def one_history():
    curve = cj.load_curve(REPO / "data" / "lsmo_gaq3_model.csv")
    shifts = np.asarray(cj.sample_shifts(2, 1, (4, 4)))
    return record_history(
        shifts, curve=curve, beta=6e6, positive_target=0.8, negative_target=-0.8, k=10.0
    )


def test_3d_bar_title_fits_inside_the_figure(one_history):
    fig = xf.plot_final_conductances(one_history, 0)
    fig.canvas.draw()
    box = fig._suptitle.get_window_extent()
    width, height = fig.bbox.width, fig.bbox.height
    assert 0 <= box.x0 and box.x1 <= width and box.y1 <= height


@pytest.mark.parametrize("fmt", ["pdf", "svg"])
def test_vector_formats(tmp_path, fmt):
    with figure_output(fmt):
        paths = rf.run_figures(tmp_path, _results(200, 50), epochs=50)
    assert {p.suffix for p in paths.values()} == {f".{fmt}"}
    head = next(iter(paths.values())).read_bytes()[:5]
    assert head == (b"%PDF-" if fmt == "pdf" else b"<?xml")


def test_report_format_and_dpi_are_checked(compose_cfg):
    with pytest.raises(ConfigError, match=r"report.format='tiff': expected one of"):
        validate_config(compose_cfg("report.format=tiff"))
    with pytest.raises(ConfigError, match="report.dpi"):
        validate_config(compose_cfg("report.dpi=10"))


@pytest.mark.slow  # one of the longest of the default run (5-10 s)
def test_training_bar_counts_finished_crossbars(monkeypatch):
    """The bar advances by crossbars that finished (converged ones as each stage of epochs
    ends, the rest with their chunk), reaches the total, and closes."""
    import crossbar_jax as cj
    from crossbar_jax import runner

    events = []

    class Bar:
        def update(self, n):
            events.append(("done", n))

        def close(self):
            events.append(("close",))

    monkeypatch.setattr(runner, "training_bar", lambda progress, total: Bar() if progress else None)
    curve = cj.load_curve(REPO / "data" / "lsmo_gaq3_model.csv")
    r = cj.run_monte_carlo(0, 3000, curve=curve, beta=6e7, chunk_size=1000, progress=True)
    done = [e[1] for e in events if e[0] == "done"]
    assert sum(done) == 3000 and all(n > 0 for n in done)
    assert len(done) > 3  # not only one update per chunk: converged crossbars count early
    assert events[-1] == ("close",)
    assert 0.2 < r.converged.mean() < 0.8


@pytest.mark.slow  # one of the longest of the default run (5-10 s)
def test_a_job_logs_its_phases_header_first_and_writes_pdf_figures(compose_cfg, tmp_path, caplog):
    said = []
    cfg = compose_cfg(*SMALL, "report.figures=true", "report.format=pdf", "report.crossbars=[0]")
    with caplog.at_level(logging.INFO, logger="crossbar_jax"):
        summary = run_study(cfg, tmp_path / "job", echo=said.append)
    text = [r.getMessage() for r in caplog.records]
    for phase in (
        "resolving",
        "compiling",
        "trained 256 crossbars",
        "statistics",
        "figures: 8 pdf",
    ):
        assert any(m.startswith(phase) for m in text), (phase, text)
    assert "figures: 8 written" in text
    assert said[0].startswith("crossbar_jax study") and "converged" not in said[0]
    assert "converged" in said[-1] and "figures" in said[-1]
    assert summary["timing"]["figures_s"] > 0
    figures = sorted(p.name for p in (tmp_path / "job" / "figures").iterdir())
    assert len(figures) == 8 and all(name.endswith(".pdf") for name in figures)
    assert "](figures/epoch_histogram.pdf)" in (tmp_path / "job" / "report.md").read_text()


GRID = ("mc.n_crossbars=256", "mc.progress=false", "grid.beta=[6e6,2e7]", "report.figures=true")


def test_a_grid_draws_its_summary_figures_but_not_each_points(compose_cfg, tmp_path):
    run_study(compose_cfg(*GRID), tmp_path / "g", echo=None)
    assert (tmp_path / "g" / "figures").is_dir() and (tmp_path / "g" / "report.md").is_file()
    points = [p for p in (tmp_path / "g").iterdir() if (p / "summary.json").is_file()]
    assert len(points) == 2
    assert not any((p / "figures").exists() for p in points)


@pytest.mark.slow
def test_point_figures_are_opt_in(compose_cfg, tmp_path):
    run_study(
        compose_cfg(*GRID, "report.point_figures=true", "report.crossbars=[0]"),
        tmp_path / "g",
        echo=None,
    )
    points = [p for p in (tmp_path / "g").iterdir() if (p / "summary.json").is_file()]
    assert all(len(list((p / "figures").glob("*.png"))) == 8 for p in points)


def test_report_and_summary_flag_quantiles_of_a_few_crossbars():
    from crossbar_jax.app.report import _quantile_text

    assert _quantile_text({"p10": 2, "p50": 3, "p90": 3}, 3).endswith(
        "(only 3 converged: too few to trust)"
    )
    assert _quantile_text({"p10": 2, "p50": 3, "p90": 9}, 4000) == "2 / 3 / 9"
    assert _quantile_text(None, 0) == "none converged"


def test_trajectory_figures_are_opt_in(compose_cfg, tmp_path):
    """By default a job draws its run figures only; report.trajectories=true adds the five
    trajectory figures of the first converged and the first failed crossbar."""
    run_study(compose_cfg(*SMALL, "report.figures=true"), tmp_path / "plain", echo=None)
    names = sorted(p.stem for p in (tmp_path / "plain" / "figures").iterdir())
    assert names == ["epoch_histogram", "kaplan_meier", "test_accuracy"]
    run_study(
        compose_cfg(*SMALL, "report.figures=true", "report.trajectories=true"),
        tmp_path / "traj",
        echo=None,
    )
    names = [p.stem for p in (tmp_path / "traj" / "figures").iterdir()]
    assert len(names) == 3 + 2 * 5
    assert len({n.split("_")[1] for n in names if n.startswith("crossbar_")}) == 2
