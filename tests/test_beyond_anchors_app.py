"""The app with online training, an ADC and volatile relaxation: keys, checks, hashes, replay."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import crossbar_jax.app.study as study
from crossbar_jax.app.config import ConfigError, validate_config
from crossbar_jax.app.outputs import RESULTS, SUMMARY
from crossbar_jax.app.study import config_hash, run_study

SMALL = ("mc.n_crossbars=400", "mc.progress=false", "training.beta=2e7", "device.k=30")
# The default study's config_hash (tests/test_nonideal_app.py): unchanged by the new keys.
DEFAULT_HASH = "e7d8dd7685a485c3"

ON = {
    "training.mode=online": ("training", "mode", "online"),
    "training.mode=online training.shuffle=true": ("training", "shuffle", True),
    "device.adc.bits=4": ("device", "adc", {"bits": 4, "range": None}),
    "device.adc.bits=6 device.adc.range=2e-6": ("device", "adc", {"bits": 6, "range": 2e-6}),
    "device.relaxation.fraction=0.5 device.relaxation.tau=3": (
        "device", "relaxation", {"fraction": 0.5, "tau": 3.0}),
    "device.relaxation.fraction=1 device.relaxation.tau=inf": (
        "device", "relaxation", {"fraction": 1.0, "tau": "inf"}),
}  # fmt: skip


def test_keys_at_their_defaults_keep_the_config_hash(compose_cfg):
    for o in ("", "device.relaxation.fraction=0", "training.mode=batch", "device.adc.bits=null"):
        spec = validate_config(compose_cfg(*([o] if o else [])))
        assert spec.nonideal.is_ideal and not spec.general
        assert config_hash(spec.params) == DEFAULT_HASH, o


def test_keys_enter_params_when_on(compose_cfg):
    hashes = set()
    for overrides, (group, key, value) in ON.items():
        spec = validate_config(compose_cfg(*overrides.split()))
        assert spec.general and not spec.nonideal.is_ideal
        assert spec.params[group][key] == value, overrides
        json.dumps(spec.params, allow_nan=False)  # standard JSON (tau = inf is "inf")
        hashes.add(config_hash(spec.params))
    assert len(hashes) == len(ON) and DEFAULT_HASH not in hashes


BAD = [
    (["training.mode=stochastic"], "training.mode", "'stochastic'"),
    (["training.shuffle=true"], "training.shuffle", "training.mode=online"),
    (["device.adc.bits=1"], "device.adc.bits", "1"),
    (["device.adc.bits=64"], "device.adc.bits", "[2, 32]"),
    (["device.adc.bits=4", "device.adc.range=-1e-6"], "device.adc.range", "-1e-06"),
    (["device.adc.bits=4", "device.adc.range=inf"], "device.adc.range", "inf"),
    (["device.adc.range=1e-6"], "device.adc.bits", "needs"),
    (["device.relaxation.fraction=1.5", "device.relaxation.tau=1"], "device.relaxation.fraction",
     "1.5"),
    (["device.relaxation.fraction=0.5"], "device.relaxation.tau", "null"),
    (["device.relaxation.fraction=0.5", "device.relaxation.tau=0"], "device.relaxation.tau",
     "0.0"),
    (["device.relaxation.fraction=0.5", "device.relaxation.tau=-3"], "device.relaxation.tau",
     "-3.0"),
]  # fmt: skip


@pytest.mark.parametrize(("overrides", "key", "value"), BAD, ids=[" ".join(b[0]) for b in BAD])
def test_bad_values_name_the_key(compose_cfg, tmp_path, no_simulation, overrides, key, value):
    with pytest.raises(ConfigError) as info:
        run_study(compose_cfg(*overrides), tmp_path / "out", echo=None)
    msg = str(info.value)
    assert key in msg and value in msg and "\n" not in msg, msg
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_job_with_every_new_effect_replays_its_crossbars(compose_cfg, tmp_path):
    """The inspected crossbars' histories end in the outcomes the job recorded (the replay
    rebuilds the effects from summary.json); the one-screen summary names them."""
    from crossbar_jax.history import record_job_history

    on = ("training.mode=online", "training.shuffle=true", "device.adc.bits=8",
          "device.relaxation.fraction=0.3", "device.relaxation.tau=5")  # fmt: skip
    summary = run_study(compose_cfg(*SMALL, *on), tmp_path, echo=None)
    df = pd.read_parquet(tmp_path / RESULTS)
    assert len(df) == 400
    assert json.loads((tmp_path / SUMMARY).read_text()) == summary
    ids = list(range(8))
    hist = record_job_history(summary, ids)
    np.testing.assert_array_equal(hist.converged, df["converged"].to_numpy()[ids])
    np.testing.assert_array_equal(hist.epoch, df["epoch"].to_numpy()[ids])
    text = study.format_summary(summary)
    assert "8-bit ADC (largest current)" in text and "relaxation 0.3 volatile, tau 5" in text
    assert "online training (shuffled)" in text
