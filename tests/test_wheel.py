"""The built wheel, installed into a fresh venv outside the clone, runs its configs from another folder.

The fresh venv sees this environment's dependencies through a ``.pth`` line (installing torch and
the rest again would take minutes and a network); gcvideo itself comes only from the wheel."""
import glob
import os
import shutil
import subprocess
import sys
import sysconfig
import venv

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(args, cwd, timeout=300):
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, "PYTHONPATH": "", "PYTHONWARNINGS": "ignore"})
    assert result.returncode == 0, f"{args}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(the fresh venv's bin folder, a working folder outside the clone)."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"       # build from a copy: no build/ or egg-info in the clone
    shutil.copytree(os.path.join(REPO, "gcvideo"), source / "gcvideo",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("setup.py", "README.md"):
        shutil.copy(os.path.join(REPO, name), source / name)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(source),
         "-w", str(tmp / "dist")], cwd=tmp)
    (wheel,) = glob.glob(str(tmp / "dist" / "gcvideo-*.whl"))
    env = tmp / "venv"
    venv.create(env, with_pip=False)
    bin_dir = env / "bin"
    purelib = subprocess.run([str(bin_dir / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # dependencies from this environment, after the venv's own site-packages (not the clone)
    deps = [p for p in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]} if p]
    with open(os.path.join(purelib, "deps.pth"), "w") as f:
        f.write("\n".join(deps) + "\n")
    run([sys.executable, "-m", "pip", "--python", str(bin_dir / "python"), "install", "--no-deps", "-q", wheel],
        cwd=tmp)
    work = tmp / "elsewhere"
    work.mkdir()
    return bin_dir, work


def test_the_installed_package_is_the_wheel_with_its_configs(installed):
    bin_dir, work = installed
    where = run([str(bin_dir / "python"), "-c", "import gcvideo; print(gcvideo.__file__)"], cwd=work).strip()
    assert where.startswith(str(bin_dir.parent)) and not where.startswith(REPO), where
    listed = run([str(bin_dir / "gcvideo"), "configs"], cwd=work)
    assert "demo/relation.yaml" in listed and "models/gc.yaml" in listed and "kinetics400/base.yaml" in listed


def test_one_epoch_fit_of_a_shipped_config_from_another_folder(installed):
    bin_dir, work = installed
    gcvideo = str(bin_dir / "gcvideo")
    run([gcvideo, "data", "synth", "data", "--videos-per-class", "5"], cwd=work)
    run([gcvideo, "fit", "--config", "demo/relation.yaml", "--config", "models/plain.yaml", "--data.root", "data",
         "--trainer.max_epochs", "1", "--model.warmup_epochs", "0.3", "--trainer.default_root_dir", "run",
         "--data.num_workers", "0", "--data.batch_size", "4", "--trainer.enable_progress_bar", "false"], cwd=work)
    assert os.path.isfile(work / "run" / "checkpoints" / "best.ckpt")
    saved = open(glob.glob(str(work / "run" / "csv" / "version_*" / "config.yaml"))[0]).read()
    assert "slow_r50" in saved and "root: data" in saved
    assert not os.path.exists(work / "runs")        # nothing written where the config's defaults point
