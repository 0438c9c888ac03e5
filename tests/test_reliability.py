"""Reliability: nothing lost, nothing silent, no traceback (issue 12).

One test (or a few) per class of failure: results trusted on resume, grid folders that
collide, concurrent runs, bad job folders in aggregate, finite but meaningless inputs, I/O
errors (read-only folder, full disk, corrupt files) and API arguments, and the bounded memory
of the figures' history replay. Each asserts the message (the key or path it names) or that
nothing was lost.

The tests run as root in CI, where ``chmod`` does not stop writes: a read-only folder is
simulated by making the write raise ``PermissionError`` (monkeypatch) and, for Hydra's own
folder, by a path below a regular file; a full disk by a write raising ``ENOSPC``.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import crossbar_jax as cj
from crossbar_jax.app.config import ConfigError
from crossbar_jax.app.errors import OutputFolderCheck, exit_on_error
from crossbar_jax.app.outputs import LOCK, RESULTS, SUMMARY, FolderLocked, OutputError, folder_lock
from crossbar_jax.app.study import ResultsError, check_results, run_study
from crossbar_jax.app.sweep import BadJobsError, aggregate

REPO = Path(__file__).resolve().parents[1]
CURVE = REPO / "data" / "lsmo_gaq3_model.csv"
# One chunk shape for every small run here, so the executable compiles once per module.
SMALL = ("mc.n_crossbars=256", "mc.progress=false", "training.beta=2e7")


def _run(cfg, out):
    """run_study with its printout captured: (summary, printed text)."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        summary = run_study(cfg, out)
    return summary, buf.getvalue()


@pytest.fixture
def small(compose_cfg):
    def make(*overrides):
        return compose_cfg(*SMALL, *overrides)

    return make


# --- resume verifies the results it skips ------------------------------------------------


def test_summary_records_the_results_file_and_an_intact_job_is_skipped(small, tmp_path):
    summary, _ = _run(small(), tmp_path)
    record = summary["results"]
    assert record["rows"] == 256 and record["file"] == RESULTS and len(record["sha256"]) == 64
    assert check_results(tmp_path) == (summary, None)
    _, printed = _run(small(), tmp_path)
    assert "skipping" in printed


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "SHA-256 differs"),
        (lambda p: p.write_bytes(b"garbage"), "SHA-256 differs"),
        (lambda p: p.unlink(), "results.parquet is missing"),
    ],
    ids=["truncated", "corrupt", "missing"],
)
def test_resume_redoes_a_job_whose_results_fail_the_check(small, tmp_path, damage, reason):
    first, _ = _run(small(), tmp_path)
    damage(tmp_path / RESULTS)
    second, printed = _run(small(), tmp_path)
    assert "redoing" in printed and reason in printed
    df = pd.read_parquet(tmp_path / RESULTS)
    assert len(df) == 256 and second["converged"] == first["converged"]  # recomputed, same
    # nothing lost: the damaged files are kept, with the reason
    kept = list((tmp_path / ".superseded").glob("broken*"))
    assert len(kept) == 1 and reason in (kept[0] / "why.txt").read_text()


@pytest.mark.parametrize("text", ["[1, 2]", '{"params": {"device": {}}', "", "42"])
def test_resume_redoes_a_job_whose_summary_is_corrupt(small, tmp_path, text):
    _run(small(), tmp_path)
    (tmp_path / SUMMARY).write_text(text)
    summary, printed = _run(small(), tmp_path)
    assert "redoing" in printed and SUMMARY in printed
    assert check_results(tmp_path)[0] == summary


def test_an_old_summary_without_a_record_is_checked_by_reading_the_table(small, tmp_path):
    summary, _ = _run(small(), tmp_path)
    del summary["results"]
    (tmp_path / SUMMARY).write_text(json.dumps(summary))
    assert check_results(tmp_path)[1] is None  # intact: skipped
    pd.read_parquet(tmp_path / RESULTS).head(10).to_parquet(tmp_path / RESULTS)
    assert "holds 10 rows" in check_results(tmp_path)[1]


# --- grid folders ---------------------------------------------------------------------------


def test_grid_values_that_print_alike_get_folders_of_their_own(small, tmp_path):
    # %g prints both as 1e+07: they used to share one folder (one point lost)
    cfg = small("grid.beta=[10000001.0,10000002.0]")
    out, _ = _run(cfg, tmp_path)
    folders = sorted(p.parent.name for p in tmp_path.glob("*/summary.json"))
    assert folders == ["training.beta=10000001.0", "training.beta=10000002.0"]
    sweep = pd.read_csv(tmp_path / "sweep.csv")
    assert sorted(sweep["training.beta"]) == [10000001.0, 10000002.0]
    # values exact in %g keep the folder names a multirun gives
    from crossbar_jax.app.study import _point_name

    assert (
        _point_name({"device.k": 10.0, "training.beta": 6e6}) == "device.k=10,training.beta=6e+06"
    )


def test_a_grid_value_listed_twice_is_refused_before_anything_runs(small, tmp_path):
    with pytest.raises(ConfigError, match=r"grid: points 0 and 1 .* would share the folder"):
        run_study(small("grid.k=[30,30]"), tmp_path)
    assert not list(tmp_path.iterdir())


# --- concurrent runs ----------------------------------------------------------------------


def test_a_second_run_into_a_locked_folder_refuses_and_writes_nothing(small, tmp_path):
    with folder_lock(tmp_path):
        # another process: the lock is an flock on a separate open file
        code = (
            "import sys; from crossbar_jax.app.outputs import folder_lock\n"
            f"try:\n  folder_lock({str(tmp_path)!r}).__enter__()\n"
            "except Exception as e: print(type(e).__name__, e); sys.exit(3)\n"
        )
        other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert other.returncode == 3
        assert "FolderLocked" in other.stdout and "another run (pid" in other.stdout
    # released: a run goes ahead
    summary, _ = _run(small(), tmp_path)
    assert summary["n_crossbars"] == 256 and (tmp_path / LOCK).exists()


def test_run_study_refuses_a_folder_another_run_holds(small, tmp_path, monkeypatch):
    import crossbar_jax.app.outputs as outputs

    def held(folder):
        raise FolderLocked(f"{folder}: another run (pid 1 on host) is writing into this folder")

    monkeypatch.setattr("crossbar_jax.app.study.folder_lock", held)
    with pytest.raises(FolderLocked, match="another run"):
        run_study(small(), tmp_path)
    assert not (tmp_path / SUMMARY).exists() and not (tmp_path / RESULTS).exists()
    assert outputs._HELD == {}


def test_the_hydra_callback_locks_the_run_folder_before_hydra_writes(tmp_path):
    from omegaconf import OmegaConf

    cfg = OmegaConf.create({"hydra": {"run": {"dir": str(tmp_path / "job")}}})
    first = OutputFolderCheck()
    first.on_run_start(cfg)
    code = (
        "from omegaconf import OmegaConf; from crossbar_jax.app.errors import OutputFolderCheck\n"
        f"OutputFolderCheck().on_run_start(OmegaConf.create({OmegaConf.to_container(cfg)!r}))\n"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    first.on_run_end(cfg)
    assert other.returncode == 1
    assert other.stderr.startswith("error: ") and "another run" in other.stderr
    assert "Traceback" not in other.stderr


# --- aggregate reports bad job folders ----------------------------------------------------


@pytest.fixture
def two_jobs(small, tmp_path):
    for name, beta in (("a", "2e7"), ("b", "3e7")):
        _run(small(f"training.beta={beta}"), tmp_path / name)
    return tmp_path


@pytest.mark.parametrize(
    "damage, why",
    [
        (lambda d: (d / SUMMARY).unlink(), "no summary.json"),
        (lambda d: (d / SUMMARY).write_text('{"params": {'), "not a readable JSON object"),
        (lambda d: (d / SUMMARY).write_text("[1, 2]"), "not a readable JSON object"),
        (lambda d: (d / RESULTS).write_bytes(b"x"), "SHA-256 differs"),
    ],
    ids=["missing", "truncated", "json-list", "results-corrupt"],
)
def test_aggregate_names_every_bad_job_folder(two_jobs, damage, why, capsys):
    damage(two_jobs / "b")
    with pytest.raises(BadJobsError, match=rf"1 job folder\(s\) .*b: .*{why}"):
        aggregate(two_jobs)
    df = aggregate(two_jobs, skip_bad=True)
    assert list(df["job"]) == ["a"] and why in df.attrs["bad_jobs"][0]

    sys.path.insert(0, str(REPO / "experiments"))
    try:
        import aggregate as cli
    finally:
        sys.path.pop(0)
    assert cli.aggregate_main([str(two_jobs)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "b: " in err and "--skip-bad" in err
    assert not (two_jobs / "sweep.csv").exists()  # nothing written from a partial sweep
    assert cli.aggregate_main([str(two_jobs), "--skip-bad"]) == 0
    assert "warning: skipped b" in capsys.readouterr().err
    assert len(pd.read_csv(two_jobs / "sweep.csv")) == 1


# --- finite but meaningless inputs ----------------------------------------------------------


@pytest.mark.parametrize(
    "override, key",
    [
        ("device.k=1e38", "device.k=1e+38: overflows float32"),
        ("device.c2c_std=1e30", "device.c2c_std=1e+30: overflows float32"),
        ("training.beta=1e39", "training.beta=1e+39: overflows float32"),
        ("training.v0=0.1", "training.v1=0.1: must differ from training.v0=0.1"),
        ("device.shift.low=1e-40", "device.shift.low=1e-40: below the smallest normal float32"),
        ("device.shift.division_factor=0.001", "device.shift.division_factor=0.001"),
    ],
)
def test_values_that_overflow_or_mean_nothing_are_refused(small, override, key):
    with pytest.raises(ConfigError) as err:
        cj.validate_config(small(override))
    assert key in str(err.value)


def test_the_same_values_run_in_float64(small):
    spec = cj.validate_config(small("device.k=1e38", "mc.precision=float64"))
    assert spec.train["k"] == 1e38


def test_negative_conductances_are_refused_in_maps_curves_and_ranges(small, tmp_path):
    m = tmp_path / "map.csv"
    m.write_text("\n".join(",".join(["-1e-8"] * 4) for _ in range(4)))
    with pytest.raises(ConfigError, match=r"device.shift.map=.*must be >= 0.*16 negative"):
        cj.validate_config(small("device.shift.distribution=measured", f"device.shift.map={m}"))
    dip = tmp_path / "dip.csv"
    dip.write_text("Conductance(S)\n4.5e-7\n4.0e-7\n5e-7\n")
    with pytest.raises(ConfigError, match=r"device.curve: point 1 .* below point 0"):
        cj.validate_config(small(f"device.curve={dip}"))
    with pytest.raises(ConfigError, match=r"device.shift.low=-1e-08: must be finite and > 0"):
        cj.validate_config(small("device.shift.low=-1e-8"))
    with pytest.raises(ValueError, match=r"low=-1e-08: must be finite and > 0"):
        cj.sample_shifts(0, 2, (4, 4), low=-1e-8)


def test_results_with_nan_write_no_rate(small, tmp_path, monkeypatch):
    import crossbar_jax.app.study as study

    real = study._simulate

    def poisoned(spec):
        result, platform = real(spec)
        err = np.array(result.final_error)
        err[3] = np.nan
        return result._replace(final_error=err), platform

    monkeypatch.setattr(study, "_simulate", poisoned)
    with pytest.raises(ResultsError, match=r"1 of 256 crossbars .* NaN .*crossbar 3.*no results"):
        run_study(small(), tmp_path)
    assert not (tmp_path / SUMMARY).exists() and not (tmp_path / RESULTS).exists()
    with pytest.raises(SystemExit, match=r"^error: .*NaN or infinite"):
        exit_on_error(run_study, small(), tmp_path)


# --- I/O errors become messages -------------------------------------------------------------


def _fail_writes(monkeypatch, code):
    def write(self, path, *args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(pd.DataFrame, "to_parquet", write)


@pytest.mark.parametrize(
    "code, advice",
    [(errno.ENOSPC, "free disk space"), (errno.EACCES, "make the folder writable")],
    ids=["disk-full", "read-only"],
)
def test_a_failed_write_is_one_line_naming_the_file_and_loses_nothing(
    small, tmp_path, monkeypatch, code, advice
):
    first, _ = _run(small(), tmp_path / "done")  # a complete job elsewhere stays intact
    _fail_writes(monkeypatch, code)
    with pytest.raises(OutputError) as err:
        run_study(small(), tmp_path / "new")
    text = str(err.value)
    assert str(tmp_path / "new" / RESULTS) in text and os.strerror(code) in text
    assert advice in text
    assert not [p for p in (tmp_path / "new").iterdir() if p.name != LOCK]  # no temporary left
    with pytest.raises(SystemExit) as ex:
        exit_on_error(run_study, small(), tmp_path / "new")
    assert str(ex.value).startswith("error: cannot write ") and "\n" not in str(ex.value)
    monkeypatch.undo()
    assert check_results(tmp_path / "done") == (first, None)
    summary, _ = _run(small(), tmp_path / "new")  # space freed: the rerun completes
    assert summary["converged"] == first["converged"]


def test_an_output_folder_below_a_file_is_reported_before_hydra_writes(tmp_path, capsys):
    from omegaconf import OmegaConf

    (tmp_path / "file").write_text("")
    cfg = OmegaConf.create({"hydra": {"run": {"dir": str(tmp_path / "file" / "job")}}})
    with pytest.raises(SystemExit) as ex:
        OutputFolderCheck().on_run_start(cfg)
    assert "cannot write into the output folder" in str(ex.value)
    assert "file" in str(ex.value) and "Not a directory" in str(ex.value)


def test_an_unwritable_output_folder_is_reported(tmp_path, monkeypatch):
    from omegaconf import OmegaConf

    real = Path.write_bytes

    def denied(self, data):
        if self.name.startswith(".write-test"):
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", denied)
    cfg = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}})
    with pytest.raises(SystemExit, match=r"Permission denied; make the folder writable"):
        OutputFolderCheck().on_multirun_start(cfg)


def test_hydra_full_error_shows_the_traceback(small, tmp_path, monkeypatch):
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    with pytest.raises(ConfigError):
        exit_on_error(cj.validate_config, small("device.k=-1"))


def test_bad_curve_files_are_curve_errors(tmp_path, small):
    binary = tmp_path / "g.csv"
    binary.write_bytes(bytes(range(256)))
    with pytest.raises(cj.CurveError, match=r"g.csv: not a text file"):
        cj.load_curve(binary)
    with pytest.raises(ConfigError, match=r"device.curve=.*not a text file"):
        cj.validate_config(small(f"device.curve={binary}"))
    with pytest.raises(cj.CurveError, match=r"sep='': expected a non-empty field separator"):
        cj.load_curve(CURVE, sep="")
    with pytest.raises(ConfigError, match=r"device.curve_sep='': expected a field separator"):
        cj.validate_config(small("device.curve_sep=''"))
    with pytest.raises(cj.CurveError, match=r"skiprows=-2: expected an integer >= 0"):
        cj.load_curve(CURVE, skiprows=-2)


# --- API arguments --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained():
    curve = cj.load_curve(CURVE)
    shifts = np.asarray(cj.sample_shifts(0, 3, (4, 4)))
    ds = cj.FOUR_BIT
    r = cj.train(shifts, curve=curve, patterns=ds.train_patterns, labels=ds.train_labels,
                 beta=2e7, positive_target=0.8, negative_target=-0.8, k=30)  # fmt: skip
    return curve, shifts, r.conductances


EVAL = dict(beta=2e7, positive_target=0.8, negative_target=-0.8)


_X, _Y = cj.FOUR_BIT.test_patterns, cj.FOUR_BIT.test_labels


@pytest.mark.parametrize(
    "patterns, labels, match",
    [
        (_X, _Y[:, :1], r"labels: expected shape \(10, 2\)"),
        (_X, _Y[:, 0], r"labels: .* got shape \(10,\)"),
        (_X, _Y[:9], r"labels: .* got shape \(9, 2\)"),
        (_X * 2, _Y, r"patterns: must be binary"),
        (_X, _Y * 3, r"labels: must be binary"),
        (_X[:, :3], _Y, r"patterns: .*3 bit\(s\).*4 rows"),
    ],
)
def test_evaluate_names_the_argument_at_fault(trained, patterns, labels, match):
    _, _, g = trained
    with pytest.raises(ValueError, match=match):
        cj.evaluate(g, patterns, labels, **EVAL)


def test_evaluate_and_predict_still_agree_on_good_input(trained):
    _, _, g = trained
    ev = cj.evaluate(g, cj.FOUR_BIT.test_patterns, cj.FOUR_BIT.test_labels, **EVAL)
    one = cj.predict(g[0], cj.FOUR_BIT.test_patterns, 2e7, 0.8, -0.8, -0.1, 0.1)
    np.testing.assert_array_equal(np.asarray(one), ev.predictions[0])
    with pytest.raises(ValueError, match=r"patterns: .*3 bit\(s\)"):
        cj.predict(g[0], cj.FOUR_BIT.test_patterns[:, :3], 2e7, 0.8, -0.8, -0.1, 0.1)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(seed=-1), r"seed=-1: must be an integer in \[0, 4294967295\]"),
        (dict(seed=2**40), r"seed=1099511627776"),
        (dict(n_crossbars=-1), r"n_crossbars=-1: must be an integer >= 0"),
        (dict(shape=(4,)), r"shape=\(4,\): expected \(rows, cols\)"),
        (dict(start=2**32 - 1, n_crossbars=2), r"crossbar indices must stay"),
        (dict(low=1e-7, high=1e-8), r"high=1e-08: must be finite and > low"),
    ],
)
def test_sample_shifts_arguments(kwargs, match):
    args = dict(seed=0, n_crossbars=2, shape=(4, 4)) | kwargs
    seed, n, shape = args.pop("seed"), args.pop("n_crossbars"), args.pop("shape")
    with pytest.raises(ValueError, match=match):
        cj.sample_shifts(seed, n, shape, **args)


def test_runners_check_the_dataset_the_voltages_and_the_range(trained):
    curve, shifts, _ = trained
    ds = cj.FOUR_BIT
    narrow = cj.Dataset(ds.train_patterns[:, :3], ds.train_labels, ds.test_patterns, ds.test_labels)
    with pytest.raises(ValueError, match=r"dataset.test_patterns: .*4 bit\(s\).*3 rows"):
        cj.run_monte_carlo(0, 8, curve=curve, dataset=narrow)
    with pytest.raises(ValueError, match=r"dataset: expected a crossbar_jax.Dataset"):
        cj.run_monte_carlo(0, 8, curve=curve, dataset=(1, 2))
    with pytest.raises(ValueError, match=r"v1=0.1: must differ from v0=0.1"):
        cj.run_grid(0, 8, curve=curve, v0=0.1, v1=0.1, beta=[6e6, 2e7])
    with pytest.raises(ValueError, match=r"k=1e\+38: overflows float32.*\(point 1\)"):
        cj.run_grid(0, 8, curve=curve, k=[10.0, 1e38])
    with pytest.raises(ValueError, match=r"c2c_std=1e\+30: overflows float32"):
        cj.run_monte_carlo_nonideal(0, 8, curve=curve, nonideal=cj.NonIdeal(c2c_std=1e30))
    with pytest.raises(ValueError, match=r"shift_map: .*must be >= 0"):
        cj.run_monte_carlo_nonideal(0, 8, curve=curve, distribution="measured",
                                    shift_map=-np.ones((4, 4)) * 1e-8)  # fmt: skip
    kw = dict(curve=curve, patterns=ds.train_patterns, labels=ds.train_labels, beta=2e7,
              positive_target=0.8, negative_target=-0.8, k=30)  # fmt: skip
    with pytest.raises(ValueError, match=r"shifts: .*must be >= 0 .*48 negative"):
        cj.train(-shifts, **kw)
    with pytest.raises(ValueError, match=r"shifts: .*must be >= 0"):
        cj.train_nonideal(-shifts, **kw)


# --- bounded memory of the figures' history -------------------------------------------------


def _sampled_matches_full(nonideal, check_every_epoch: bool) -> None:
    from crossbar_jax.history import record_nonideal_history, record_sampled_history

    curve = cj.load_curve(CURVE)
    kw = dict(curve=curve, beta=2e7, k=30.0, epochs=60, nonideal=nonideal)
    full = record_nonideal_history(0, [0, 1, 2, 5], **kw)
    if check_every_epoch:
        every = record_sampled_history(0, [0, 1, 2, 5], max_epochs=1000, **kw)
        for f in ("pulses", "conductances", "error", "activations", "final_conductances"):
            np.testing.assert_array_equal(getattr(every, f), getattr(full, f))
    some = record_sampled_history(0, [0, 1, 2, 5], max_epochs=7, **kw)
    np.testing.assert_array_equal(some.epoch_numbers, [1, 10, 19, 28, 37, 46, 55])
    assert some.error.shape == (4, 7) and some.epochs == 60
    np.testing.assert_array_equal(some.conductances, full.conductances[:, some.epoch_numbers - 1])
    np.testing.assert_array_equal(some.error, full.error[:, some.epoch_numbers - 1])
    for f in ("converged", "epoch", "final_pulses", "final_conductances"):
        np.testing.assert_array_equal(getattr(some, f), getattr(full, f))


@pytest.mark.slow  # one of the longest of the default run (5-10 s)
def test_sampled_history_keeps_a_bounded_number_of_epochs_and_the_exact_outcome():
    _sampled_matches_full(None, check_every_epoch=False)


@pytest.mark.slow
def test_sampled_history_with_noise_and_every_epoch_equals_the_full_history():
    _sampled_matches_full(cj.NonIdeal(c2c_std=4e-9, read_noise=0.01), check_every_epoch=True)


def test_figures_of_a_long_job_replay_a_bounded_history(small, tmp_path):
    from crossbar_jax.history import MAX_RECORDED_EPOCHS, record_job_history_bounded
    from crossbar_jax.plots.crossbars import _span

    spec = cj.validate_config(small("training.epochs=2500", "training.beta=6e6"))
    h = record_job_history_bounded({"params": spec.params}, [0, 1], curve=spec.curve)
    assert h.error.shape == (2, 834) and h.epochs == 2500  # every 3rd epoch: 1, 4, ..., 2500
    assert h.epoch_numbers[-1] == 2500 and h.epoch_numbers[1] == 4
    assert h.error.shape[1] <= MAX_RECORDED_EPOCHS
    epochs, outcome = _span(h, 1)
    assert epochs.size <= MAX_RECORDED_EPOCHS and "2500" in outcome
    # at most MAX_RECORDED_EPOCHS epochs, the exact history (every epoch) is kept
    short = record_job_history_bounded({"params": spec.params | {"training": spec.params[
        "training"] | {"epochs": 50}}}, [0], curve=spec.curve)  # fmt: skip
    assert short.epoch_numbers is None and short.error.shape == (1, 50)


@pytest.mark.slow
def test_cli_errors_are_one_line_without_traceback(tmp_path):
    env = dict(os.environ, JAX_PLATFORMS="cpu", HYDRA_FULL_ERROR="0")
    app = [sys.executable, str(REPO / "experiments" / "convergence.py"), "mc.n_crossbars=64",
           "report.figures=false"]  # fmt: skip
    (tmp_path / "f").write_text("")
    cases = [
        (["hydra.run.dir=f/x"], "cannot write into the output folder"),
        (["device.curve_sep=''"], "device.curve_sep"),
        (["device.k=1e38"], "device.k=1e+38"),
        (["training.v0=0.1"], "training.v1=0.1"),
        ([f"device.curve={REPO / 'pyproject.toml'}"], "device.curve="),
    ]
    for extra, text in cases:
        p = subprocess.run([*app, *extra], cwd=tmp_path, env=env, capture_output=True, text=True)
        assert p.returncode == 1, (extra, p.stderr)
        assert text in p.stderr and "Traceback" not in p.stderr, (extra, p.stderr)


def test_a_full_disk_while_drawing_names_the_figures_folder(small, tmp_path, monkeypatch):
    import crossbar_jax.plots.runs as runs

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # matplotlib names no file

    monkeypatch.setattr(runs, "run_figures", full)
    with pytest.raises(OutputError, match=r"cannot write .*figures: No space left on device"):
        run_study(small("report.figures=true"), tmp_path)
    assert not (tmp_path / SUMMARY).exists()  # not taken as complete: redone on the rerun


def test_report_crossbars_are_checked_before_the_training(small, tmp_path, monkeypatch):
    import crossbar_jax.app.study as study

    monkeypatch.setattr(study, "_simulate", lambda spec: pytest.fail("trained"))
    for bad in ("[256]", "[-1]", f"[{','.join(map(str, range(65)))}]"):
        with pytest.raises(ConfigError, match=r"report.crossbars=.*in \[0, 256\)"):
            run_study(small("report.figures=true", f"report.crossbars={bad}"), tmp_path)
    assert not (tmp_path / RESULTS).exists()


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: cj.load_curve(None), r"path=None: expected a file path"),
        (lambda: cj.load_curve(CURVE, column=1.5), r"column=1.5: expected a 0-based column"),
        (lambda: cj.make_dataset(["01a"], [[0]]), r"train_patterns: bit string '01a'"),
        (lambda: cj.make_dataset("0101", [[0]]), r"train_patterns='0101': expected a list"),
        (lambda: cj.make_dataset(["01"], [[0]], ["10"]), r"test_labels: test_patterns were"),
        (lambda: cj.letters_dataset(1.5), r"holdout_per_letter=1.5: must be an integer"),
        (lambda: cj.letters_dataset(3, -1), r"seed=-1: expected an integer >= 0"),
        (
            lambda: cj.run_monte_carlo_nonideal(0, 8, curve=[1e-7, 2e-7], nonideal="abc"),
            r"nonideal='abc': expected a crossbar_jax.NonIdeal",
        ),
        (
            lambda: cj.evaluate(np.ones((1, 4, 4)) * 1e-7, _X, _Y, **(EVAL | {"beta": -1})),
            r"beta=-1: must be finite and > 0",
        ),
    ],
)
def test_more_api_arguments_are_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_a_summary_whose_counts_disagree_with_its_results_is_redone(small, tmp_path):
    summary, _ = _run(small(), tmp_path)
    summary["converged"] += 1  # an edited summary
    (tmp_path / SUMMARY).write_text(json.dumps(summary))
    assert "converged crossbars" in check_results(tmp_path)[1]
    again, printed = _run(small(), tmp_path)
    assert "redoing" in printed and again["converged"] == summary["converged"] - 1


def test_an_edited_rate_in_a_summary_is_caught(small, tmp_path):
    summary, _ = _run(small(), tmp_path)
    summary["convergence_rate"] = float("nan")
    (tmp_path / SUMMARY).write_text(json.dumps(summary))
    assert "convergence_rate=nan" in check_results(tmp_path)[1]
    with pytest.raises(ConfigError, match=r"cfg: expected a composed configuration"):
        cj.validate_config(None)
