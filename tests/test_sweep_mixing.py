"""aggregate refuses jobs of different sweeps; nested sweeps stay apart; mc.rerun recomputes."""

from __future__ import annotations

import json

import pytest

from crossbar_jax.app.jobs import SUPERSEDED
from crossbar_jax.app.outputs import SUMMARY
from crossbar_jax.app.study import run_study
from crossbar_jax.app.sweep import MixedSweepError, aggregate

SMALL = ("mc.n_crossbars=256", "mc.progress=false")  # test_study's chunk shape: no new compile


def _job(compose_cfg, folder, *overrides):
    """A job as a multirun writes it: its overrides recorded in the summary."""
    job = {"num": None, "override_dirname": ",".join(overrides), "overrides": list(overrides)}
    return run_study(compose_cfg(*SMALL, *overrides), folder, job=job, echo=None)


def test_a_sweep_at_other_fixed_settings_is_refused_naming_the_difference(compose_cfg, tmp_path):
    root = tmp_path / "multirun"
    _job(compose_cfg, root / "a", "training.beta=6e6")
    _job(compose_cfg, root / "b", "training.beta=2e7")
    assert len(aggregate(root)) == 2  # beta is swept: its jobs name it
    # a job of another sweep, at another n, put in the same folder (no override names mc.*)
    run_study(compose_cfg("mc.n_crossbars=128", "mc.progress=false"), root / "c", echo=None)
    with pytest.raises(MixedSweepError) as info:
        aggregate(root)
    message = str(info.value)
    assert "mc.n_crossbars differs" in message
    assert "128 in 1 job(s), e.g. c" in message and "256 in 2 job(s)" in message
    assert "3 job(s) do not set it in their overrides (e.g. a)" in message
    assert "Aggregate each sweep's own folder" in message


def test_a_swept_fixed_setting_is_allowed_when_the_jobs_name_it(compose_cfg, tmp_path):
    root = tmp_path / "multirun"
    _job(compose_cfg, root / "p32", "mc.precision=float32")
    _job(compose_cfg, root / "p64", "mc.precision=float64")
    df = aggregate(root)
    assert df.attrs["swept"] == ["mc.precision"]


def test_another_curve_without_an_override_is_refused(compose_cfg, tmp_path):
    root = tmp_path / "multirun"
    _job(compose_cfg, root / "shipped", "training.beta=2e7")
    curve = tmp_path / "g.csv"
    curve.write_text("Conductance(S)\n" + "".join(f"{4e-7 + i * 1e-9}\n" for i in range(51)))
    run_study(compose_cfg(*SMALL, f"device.curve={curve}"), root / "other", echo=None)
    (root / "other" / SUMMARY).write_text(
        json.dumps({**json.loads((root / "other" / SUMMARY).read_text()), "job": None})
    )
    with pytest.raises(MixedSweepError, match="device.curve_sha256 differs"):
        aggregate(root)


def test_a_nested_sweep_is_not_collected_with_its_parent(compose_cfg, tmp_path):
    root = tmp_path / "multirun" / "beta_k_grid"
    _job(compose_cfg, root / "device.k=10", "device.k=10")
    nested = root / "mc.n_crossbars=128"
    (nested).mkdir(parents=True)
    (nested / "multirun.yaml").write_text("hydra: {}\n")
    run_study(compose_cfg("mc.n_crossbars=128", "mc.progress=false"), nested / "j", echo=None)
    df = aggregate(root)
    assert list(df["job"]) == ["device.k=10"]
    assert len(aggregate(nested)) == 1


def test_rerun_recomputes_and_keeps_the_previous_results(compose_cfg, tmp_path):
    out = tmp_path / "job"
    first = run_study(compose_cfg(*SMALL), out, echo=None)
    said = []
    again = run_study(compose_cfg(*SMALL), out, echo=said.append)
    assert said[0].startswith("skipping:") and "mc.rerun=true" in said[0]
    assert again["timing"] == first["timing"]  # skipped: the same summary
    said.clear()
    redone = run_study(compose_cfg(*SMALL, "mc.rerun=true"), out, echo=said.append)
    assert said[0].startswith("mc.rerun=true: recomputing")
    assert redone["config_hash"] == first["config_hash"]  # rerun is not part of the config
    assert redone["converged"] == first["converged"]
    assert redone["timing"]["total_s"] != first["timing"]["total_s"]
    kept = out / SUPERSEDED / first["config_hash"]
    assert json.loads((kept / SUMMARY).read_text())["timing"] == first["timing"]
