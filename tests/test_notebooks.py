"""The notebooks run top to bottom, headless, and are stored without outputs.

Each notebook is executed with nbclient in a fresh kernel ("python3": the spec ipykernel installs,
or the one jupyter_client provides for the running interpreter when ipykernel is importable).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def _execute(path: Path, timeout: int = 300):
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    return nb


def _errors(nb) -> list[str]:
    return [
        f"{o.ename}: {o.evalue}"
        for cell in nb.cells
        if cell.cell_type == "code"
        for o in cell.get("outputs", [])
        if o.output_type == "error"
    ]


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: cell {i} has stored outputs"
            assert cell.execution_count is None, f"{path.name}: cell {i} has an execution count"


@pytest.mark.parametrize(
    "path",
    # The ranking notebook simulates all 16 cases (about 40 s) and the epoch notebook runs a
    # sweep first (about 20 s): both with the slow tests.
    [
        pytest.param(p, marks=pytest.mark.slow)
        if p.name in ("nonidealities.ipynb", "epoch_distributions.ipynb")
        else p
        for p in NOTEBOOKS
    ],
    ids=lambda p: p.name,
)
def test_notebook_runs_on_its_own_data(path, monkeypatch):
    """Without RESULTS_DIR a notebook simulates its own small data set (about 20 s)."""
    monkeypatch.delenv("RESULTS_DIR", raising=False)
    monkeypatch.setenv("JAX_PLATFORMS", os.environ.get("JAX_PLATFORMS", "cpu"))
    nb = _execute(path)
    assert not _errors(nb)
    images = sum(
        "image/png" in o.get("data", {})
        for cell in nb.cells
        if cell.cell_type == "code"
        for o in cell.outputs
    )
    assert images >= 5, f"{path.name}: only {images} figures"


@pytest.mark.slow
def test_epoch_notebook_reads_the_apps_sweep(tmp_path, monkeypatch):
    """A tiny 2 x 2 sweep of the app, aggregated, is what the notebook analyses."""
    env = dict(os.environ, JAX_PLATFORMS="cpu", HYDRA_FULL_ERROR="1")
    sweep = tmp_path / "multirun"
    subprocess.run(
        [sys.executable, str(REPO / "experiments" / "convergence.py"), "-m",
         "training.beta=1e7,2e7", "device.k=10,20", "mc.n_crossbars=500", "mc.progress=false",
         f"hydra.sweep.dir={sweep}"],
        cwd=tmp_path, env=env, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    subprocess.run(
        [sys.executable, str(REPO / "experiments" / "aggregate.py"), str(sweep)],
        cwd=tmp_path, env=env, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    monkeypatch.setenv("RESULTS_DIR", str(sweep))
    nb = _execute(REPO / "notebooks" / "epoch_distributions.ipynb")
    assert not _errors(nb)
    text = "".join(
        o.get("data", {}).get("text/markdown", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for o in cell.outputs
    )
    assert f"the app's outputs in `{sweep}`" in text and "2,000 crossbars" in text


@pytest.mark.slow
def test_nonidealities_notebook_reads_the_apps_sweep(tmp_path, monkeypatch):
    """experiment=nonidealities, tiny, aggregated: the notebook ranks its sixteen cases."""
    env = dict(os.environ, JAX_PLATFORMS="cpu", HYDRA_FULL_ERROR="1")
    sweep = tmp_path / "multirun"
    subprocess.run(
        [sys.executable, str(REPO / "experiments" / "convergence.py"), "-m",
         "experiment=nonidealities", "mc.n_crossbars=300", "mc.progress=false",
         "report.figures=false", f"hydra.sweep.dir={sweep}"],
        cwd=tmp_path, env=env, check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    subprocess.run(
        [sys.executable, str(REPO / "experiments" / "aggregate.py"), str(sweep)],
        cwd=tmp_path, env=env, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    monkeypatch.setenv("RESULTS_DIR", str(sweep))
    nb = _execute(REPO / "notebooks" / "nonidealities.ipynb")
    assert not _errors(nb)
    text = "".join(
        o.get("data", {}).get("text/markdown", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for o in cell.outputs
    )
    assert f"the app's outputs in `{sweep}`" in text and "4,800 crossbars" in text
    assert "Most harmful here" in text
