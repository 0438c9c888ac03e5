"""Build step that puts the app's configs and the shipped curve inside the installed package.

The repository keeps them at the top level (conf/, data/), where users and docs find them.
A regular (non-editable) install copies them to crossbar_jax/_conf and crossbar_jax/_data in
the build, so the console scripts work from any folder; an editable install uses the
checkout's folders in place (crossbar_jax.app.resources), so nothing is copied into the source.
Everything else is configured in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
DATA = ("lsmo_gaq3_model.csv", "lsmo_gaq3_model.json")


class BuildWithConf(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # crossbar_jax.app.resources finds the checkout's conf/ and data/
        target = Path(self.build_lib) / "crossbar_jax"
        shutil.copytree(
            ROOT / "conf", target / "_conf", dirs_exist_ok=True,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )  # fmt: skip
        (target / "_data").mkdir(parents=True, exist_ok=True)
        for name in DATA:
            shutil.copy2(ROOT / "data" / name, target / "_data" / name)


setup(cmdclass={"build_py": BuildWithConf})
