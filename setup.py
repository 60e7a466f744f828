"""The one build step pyproject.toml cannot say: deploy/ goes into the package.

`stproxy-monitor deploy-files DIR` writes the files out of an installed package
(stproxy_monitor/deploy/ in a wheel); in a checkout or an editable install it reads ./deploy.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithDeployFiles(build_py):
    """build_py, then deploy/ copied to stproxy_monitor/deploy/ in the build tree."""

    def run(self) -> None:
        """Build the package, then add the deploy files (not for editable installs)."""
        super().run()
        source = Path("deploy")
        if getattr(self, "editable_mode", False) or not source.is_dir():
            return
        target = Path(self.build_lib) / "stproxy_monitor" / "deploy"
        shutil.copytree(source, target, dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildWithDeployFiles})
