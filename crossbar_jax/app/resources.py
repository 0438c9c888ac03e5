"""Where the app's Hydra configs (conf/) and the shipped model curve (data/) are found.

The top-level ``conf/`` and ``data/`` folders of the repository are the source. In a checkout,
and in an editable install (``pip install -e .``), they are used in place, so an edited yaml
file takes effect at once. A regular ``pip install .`` copies them into the installed package
as ``crossbar_jax/_conf/`` and ``crossbar_jax/_data/`` (see setup.py), so the installed console
scripts work from any folder without the checkout.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["conf_dir", "data_dir", "ResourceError"]

_PACKAGE = Path(__file__).resolve().parents[1]  # crossbar_jax/ (this module is in app/)
_CHECKOUT = _PACKAGE.parent


class ResourceError(RuntimeError):
    """The app's configs or the shipped curve are missing from this installation."""


def _find(packaged: str, checkout: str, marker: str) -> Path:
    for folder in (_PACKAGE / packaged, _CHECKOUT / checkout):
        if (folder / marker).is_file():
            return folder
    raise ResourceError(
        f"crossbar_jax: {marker} found neither in {_PACKAGE / packaged} (an installed package) "
        f"nor in {_CHECKOUT / checkout} (a checkout); reinstall with `pip install .` from a clone"
    )


def conf_dir() -> Path:
    """The folder of the app's Hydra configs (holding config.yaml)."""
    return _find("_conf", "conf", "config.yaml")


def data_dir() -> Path:
    """The folder of the shipped model curve (holding lsmo_gaq3_model.csv)."""
    return _find("_data", "data", "lsmo_gaq3_model.csv")
