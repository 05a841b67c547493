"""Build hook: ship the top-level ``scenes/`` folder (embedded scenes, splits, material database) inside the
package as ``simkit/_embedded/scenes`` so a wheel works outside the checkout. Everything else is in
pyproject.toml; an editable install reads ``scenes/`` in place (``simkit.scenes.catalog.scenes_dir``)."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

EMBEDDED = Path("simkit") / "_embedded" / "scenes"


class BuildPyWithScenes(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / EMBEDDED
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree("scenes", target, ignore=shutil.ignore_patterns("__pycache__"))


setup(cmdclass={"build_py": BuildPyWithScenes})
