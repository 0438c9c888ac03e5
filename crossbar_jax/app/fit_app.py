"""Fit smooth glassy-growth models to a measured conductance-versus-pulse curve.

Loads the curve with :func:`crossbar_jax.load_curve`, fits every model of
:mod:`crossbar_jax.curve_models`, picks the best by AICc, and writes into ``--out-dir``:

* ``<name>.csv``: header ``Conductance(S)``, the chosen model at pulses ``0 .. N-1``;
* ``<name>.json``: the chosen model, its parameters with units, the residual rms, every model's
  scores, the source file name, the number of points, the date and the command;
* ``<name>.png``: the measured points against every fit, with the residuals of the chosen one.

The written curve is the smooth model only, never the measured values, so a measured curve that
may not be redistributed can stand behind a curve that can.

Installed as ``crossbar-jax-fit`` (also ``python experiments/fit_curve.py``). Example, for a
measured curve of your own (one conductance per line, siemens, a header line)::

    crossbar-jax-fit my_device.csv --out-dir fits --name my_device_model

A missing or unreadable file, or a curve that cannot be fitted, exits with one line saying why.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import sys
from pathlib import Path

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure

import crossbar_jax
from crossbar_jax.curve import CurveError, layout_hint, load_curve, unit_warning
from crossbar_jax.curve_models import best_fit, fit_curve_models

_KEYS = {"column": "--column", "sep": "--sep"}  # the options' names in hints

_COLORS = {
    "exponential": "#7f7f7f",
    "stretched_exponential": "#1f77b4",
    "logarithmic": "#d62728",
    "power_law": "#2ca02c",
}


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="crossbar-jax-fit",
        description=__doc__.split("\n\n")[0],
        epilog="Example: crossbar-jax-fit my_device.csv --out-dir fits --name my_device_model",
    )
    ap.add_argument("measured", type=Path, help="measured curve file (conductances in S)")
    ap.add_argument("--out-dir", type=Path, default=Path("data"), help="output folder")
    ap.add_argument("--name", default="curve_model", help="base name of the output files")
    ap.add_argument("--points", type=int, default=None, help="points to write (default: measured)")
    ap.add_argument("--column", default="0", help="column index (0-based) or header name")
    ap.add_argument("--sep", default=None, help="field separator (default: by file suffix)")
    ap.add_argument("--skiprows", type=int, default=None, help="preamble lines to skip")
    ap.add_argument(
        "--stats-only",
        action="store_true",
        help="keep <out-dir>/<name>.csv and .json as they are (no refit) and only add the "
        "residual statistics of the measured curve against that model curve to the JSON",
    )
    args = ap.parse_args(argv)
    if args.points is not None and args.points < 2:
        ap.error("--points must be at least 2")
    return args


def residual_stats(residuals, n_params: int) -> dict:
    """The residuals' std (their rms) and lag-1 autocorrelation along n, with 95% intervals.

    std: the rms, interval ``sqrt(SSR / chi2_{0.975}), sqrt(SSR / chi2_{0.025})`` on
    N - n_params degrees of freedom. Lag-1 autocorrelation r1 = sum e[n] e[n+1] / sum e[n]^2
    (the usual ACF estimator), interval ``tanh(atanh(r1) -+ 1.96 / sqrt(N - 3))`` (Fisher z).
    """
    from scipy.stats import chi2

    e = np.asarray(residuals, np.float64)
    n = e.size
    ssr = float(np.sum(e * e))
    dof = max(n - n_params, 1)
    rms = float(np.sqrt(ssr / n))
    std_ci = [
        float(np.sqrt(ssr / chi2.ppf(0.975, dof))),
        float(np.sqrt(ssr / chi2.ppf(0.025, dof))),
    ]
    r1 = float(np.sum(e[1:] * e[:-1]) / ssr) if ssr > 0 else 0.0
    half = 1.96 / np.sqrt(max(n - 3, 1))
    z = np.arctanh(np.clip(r1, -0.999999, 0.999999))
    r_ci = [float(np.tanh(z - half)), float(np.tanh(z + half))]
    return {
        "residual_std_S": rms,
        "residual_std_ci95_S": std_ci,
        "residual_lag1_autocorrelation": r1,
        "residual_lag1_ci95": r_ci,
        "residual_stats": (
            "std = rms of measured - chosen model (chi-square 95% interval, N - parameters "
            "dof); lag-1 autocorrelation sum e[n]e[n+1] / sum e[n]^2 (Fisher-z 95% interval); "
            "device.curve_noise.std=fitted and correlation=fitted read these"
        ),
    }


def plot_fits(g: np.ndarray, results, chosen, path: Path, n_out: int, source: str) -> None:
    """Measured points vs every fit (chosen one highlighted) and the chosen fit's residuals."""
    with mpl.rc_context({"font.size": 9, "axes.linewidth": 0.8}):
        _draw_fits(g, results, chosen, path, n_out, source)


def _draw_fits(g, results, chosen, path: Path, n_out: int, source: str) -> None:
    n = np.arange(g.size)
    n_dense = np.linspace(0, max(g.size, n_out) - 1, 800)
    fig = Figure(figsize=(5.0, 4.6))
    ax, axr = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1], "hspace": 0.06})
    ax.plot(n, g * 1e9, "o", ms=4, mfc="none", mec="k", mew=0.8, label="Measured", zorder=5)
    for r in sorted(results, key=lambda r: r is chosen):
        best = r is chosen
        daicc = r.aicc - chosen.aicc
        label = f"{r.name.replace('_', ' ')} ({r.rms * 1e9:.2f} nS, ΔAICc {daicc:.1f})"
        ax.plot(
            n_dense, r.evaluate(n_dense) * 1e9, color=_COLORS.get(r.name, "C4"),
            lw=2.2 if best else 1.0, ls="-" if best else "--", alpha=1.0 if best else 0.8,
            zorder=4 if best else 3, label=label + (" ← chosen" if best else ""),
        )  # fmt: skip
    ax.set_ylabel("Conductance (nS)")
    ax.legend(frameon=False, fontsize=7.5, loc="lower right", title=f"Fits to {source}",
              title_fontsize=7.5)  # fmt: skip
    ax.tick_params(direction="in", top=True, right=True)
    resid = (g - chosen.evaluate(n)) * 1e9
    color = _COLORS.get(chosen.name, "C4")
    axr.axhline(0, color=color, lw=1.0)
    axr.plot(n, resid, "o", ms=3.5, mfc="none", mec="k", mew=0.7)
    lim = 1.15 * np.max(np.abs(resid))
    axr.set_ylim(-lim, lim)
    axr.text(0.99, 0.95, f"measured − {chosen.name.replace('_', ' ')}", transform=axr.transAxes,
             ha="right", va="top", fontsize=7.5)  # fmt: skip
    axr.set_ylabel("Residual (nS)")
    axr.set_xlabel("Pulse number")
    axr.tick_params(direction="in", top=True, right=True)
    axr.set_xlim(-0.5, max(g.size, n_out) - 0.5)
    fig.align_ylabels([ax, axr])
    fig.savefig(path, dpi=200, bbox_inches="tight")


def main(argv=None) -> int:
    args = parse_args(argv)
    column = int(args.column) if args.column.lstrip("-").isdigit() else args.column
    try:
        g = load_curve(
            args.measured, column=column, sep=args.sep, skiprows=args.skiprows, keys=_KEYS
        )
    except CurveError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: {args.measured}: cannot read the file: {exc}", file=sys.stderr)
        return 2
    hint = layout_hint(
        args.measured, column=column, sep=args.sep, skiprows=args.skiprows, keys=_KEYS
    )
    warning = unit_warning(g, str(args.measured), hint=hint)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    n_out = args.points or g.size
    if args.stats_only:
        return _stats_only(args, g)
    try:
        results = fit_curve_models(g)
    except ValueError as exc:
        print(f"error: {args.measured}: {exc}", file=sys.stderr)
        return 2
    chosen = best_fit(results=results)

    args.out_dir.mkdir(parents=True, exist_ok=True)
    stem = args.out_dir / args.name
    model = chosen.evaluate(np.arange(n_out))
    np.savetxt(stem.with_suffix(".csv"), model, fmt="%.12e", header="Conductance(S)", comments="")

    argv_used = sys.argv[1:] if argv is None else list(argv)
    stats = residual_stats(
        g - chosen.evaluate(np.arange(g.size)), len(chosen.to_dict()["parameters"])
    )
    summary = {
        "chosen_model": chosen.name,
        "formula": chosen.formula,
        "pulse_number": "n = 0 before any pulse, n = k after k pulses",
        "parameters": chosen.to_dict()["parameters"],
        "residual_rms_S": chosen.rms,
        "residual_rms_nS": chosen.rms * 1e9,
        **stats,
        "selection": "lowest AICc (Gaussian residuals; k = parameters + 1); ties: fewer parameters",
        "models": [r.to_dict() for r in results],
        "source_file": args.measured.name,
        "measured_points": int(g.size),
        "points": int(n_out),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join(["crossbar-jax-fit", *map(str, argv_used)]),
        "crossbar_jax_version": crossbar_jax.__version__,
    }
    stem.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    plot_fits(g, results, chosen, stem.with_suffix(".png"), n_out, args.measured.name)

    print(f"chosen: {chosen.name}  rms = {chosen.rms * 1e9:.3f} nS")
    print(f"residuals: {_stats_text(stats)}")
    for r in results:
        print(f"  {r.name:22s} rms {r.rms * 1e9:7.3f} nS  AICc {r.aicc:9.2f}  BIC {r.bic:9.2f}")
    print(f"wrote {stem}.csv, .json, .png")
    return 0


def _stats_text(stats: dict) -> str:
    lo, hi = stats["residual_std_ci95_S"]
    rlo, rhi = stats["residual_lag1_ci95"]
    return (
        f"std {stats['residual_std_S'] * 1e9:.3f} nS (95% {lo * 1e9:.2f}-{hi * 1e9:.2f}), "
        f"lag-1 autocorrelation {stats['residual_lag1_autocorrelation']:.3f} (95% {rlo:.2f} "
        f"to {rhi:.2f})"
    )


def _stats_only(args, g: np.ndarray) -> int:
    """Add the residual statistics against an existing model curve to its JSON (no refit)."""
    stem = args.out_dir / args.name
    model = load_curve(stem.with_suffix(".csv"))
    summary = json.loads(stem.with_suffix(".json").read_text(encoding="utf-8"))
    n = min(model.size, g.size)
    stats = residual_stats(g[:n] - model[:n], len(summary["parameters"]))
    summary.update(stats)
    stem.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(
        f"residuals against {stem.with_suffix('.csv').name}: {_stats_text(stats)}; added to "
        f"{stem.with_suffix('.json')}"
    )
    return 0


def fit_app() -> None:
    """Console entry point of ``crossbar-jax-fit``."""
    sys.exit(main())
