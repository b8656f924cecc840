"""The wheel that ``pip install .`` builds (the Dockerfile's) carries every file of the
package: the suite runs from an editable checkout, which reads them from ``src/``
whether or not the wheel has them. A missing password list made every sign-up and
password reset of the image a 500."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "payreq"
PIP_WHEEL = (sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation")


def _package_files() -> set[str]:
    return {
        str(path.relative_to(PACKAGE.parent))
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def test_the_wheel_carries_every_file_of_the_package(tmp_path: Path) -> None:
    # from a copy: a build in the checkout would leave build/ there, whose files a
    # later build reuses whatever the package data says
    source = tmp_path / "source"
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    built = subprocess.run(
        [*PIP_WHEEL, "--wheel-dir", str(tmp_path / "wheel"), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "wheel").glob("payreq-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = {name for name in archive.namelist() if name.startswith("payreq/")}
    missing = sorted(_package_files() - shipped)
    assert missing == []
    assert "payreq/account/common_passwords.txt" in shipped
