"""PEP 517 backend for `pip install .`: maturin builds the wheel around the
vfscope command; before it, this builds what maturin does not (the
LD_PRELOAD library and vfstop, two other crates of the workspace) and puts
them in the wheel's data directory: libvfscope.so lands in <env>/lib, where
`vfscope run` looks for it (../lib from its own directory), and vfstop in
<env>/bin.

The cargo profile follows maturin's: release, or the one given with
`--profile` in MATURIN_PEP517_ARGS (the tests use the dev profile to reuse
their build)."""

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import maturin
from maturin import (  # noqa: F401  (the hooks pip calls, re-exported)
    build_sdist,
    get_requires_for_build_sdist,
    get_requires_for_build_wheel,
)

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "packaging" / "vfscope.data"


def _profile():
    args = shlex.split(os.environ.get("MATURIN_PEP517_ARGS", ""))
    for i, arg in enumerate(args):
        if arg == "--profile" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--profile="):
            return arg.split("=", 1)[1]
    return "release"


def _build_extras():
    profile = _profile()
    subprocess.run(
        ["cargo", "build", "--profile", profile, "-p", "vfscope-preload", "-p", "vfstop"],
        cwd=ROOT,
        check=True,
    )
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    built = target / ("debug" if profile == "dev" else profile)
    shutil.rmtree(DATA, ignore_errors=True)
    (DATA / "data" / "lib").mkdir(parents=True)
    (DATA / "scripts").mkdir(parents=True)
    shutil.copy2(built / "libvfscope.so", DATA / "data" / "lib" / "libvfscope.so")
    shutil.copy2(built / "vfstop", DATA / "scripts" / "vfstop")


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _build_extras()
    return maturin.build_wheel(wheel_directory, config_settings, metadata_directory)


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    # maturin checks that the data directory exists before the wheel.
    DATA.mkdir(parents=True, exist_ok=True)
    return maturin.prepare_metadata_for_build_wheel(metadata_directory, config_settings)
