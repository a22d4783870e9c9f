#!/bin/bash
# The one prepared command for a GPU machine lent for a few minutes (the device tool's `run`):
#   bash scripts/device_gpu_check.sh SECONDS [STEP ...]
# with gcvideo's dependencies that the machine lacks as wheels in .whl/ (carried; the machine has no
# network): `make gpu-check WHEELS=.whl` installs them over the machine's own CUDA PyTorch, NVDEC's
# tests run, then benchmarks/gpu_check.py with every step, within SECONDS in all. torchcodec finds
# FFmpeg in PyAV's wheel (scripts/av_ffmpeg_links.py). Everything lands in $OUT.
#
# .whl/ (ignored: `echo /.whl/ >> .git/info/exclude`; carry it) for the H200 image's Python 3.12, here:
#   P="--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
#      --platform manylinux2014_x86_64 --platform manylinux2010_x86_64"
#   pip download -d .whl --no-deps --only-binary=:all: --python-version 3.12 --implementation cp $P \
#     av==18.1.0 decord==0.6.0 yacs==0.1.8 termcolor parameterized jsonargparse docstring_parser \
#     typeshed_client torchcodec==0.16.0            # 0.16.0+cu130: NVDEC, runs on torch >= 2.11
#   pip download -d .whl --no-deps --only-binary=:all: setuptools wheel packaging     # the editable install
#   .venv/bin/pip wheel -w .whl --no-deps pytorchvideo==0.1.5 fvcore iopath          # sdists, built here
# (59 MB; the image has torch, Lightning, torchmetrics, tensorboard and the rest.)
set -u
LIMIT=${1:-540}
shift
STEPS=${*:-train infer memory profile decode data compile fit}     # the GPU check's steps, in this order
OUT=${OUT:-/tmp/gpu-check-out}
mkdir -p "$OUT"
left() { echo $((LIMIT - SECONDS)); }
{
  date -u; nvidia-smi -L; nvidia-smi --query-gpu=driver_version,memory.total --format=csv,noheader
  nproc; python3 -c 'import sys, torch; print(sys.version.split()[0], torch.__version__, torch.version.cuda)'
  ls /usr/local/nvidia/lib64 2>/dev/null | grep -iE 'nvcuvid|libcuda\.so' ; ldconfig -p | grep -ciE 'avcodec'
} > "$OUT/probe.txt" 2>&1
cat "$OUT/probe.txt"
if ! command -v make > /dev/null; then        # the Makefile's gpu-check recipe, by hand
  make() {
    if [ ! -f .venv-gpu/.installed-stamp ]; then
      python3 -m venv .venv-gpu || return 1
      python3 -c 'import site; print("\n".join(site.getsitepackages()))' > "$(.venv-gpu/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/base-env.pth"
      PIP_NO_INDEX=1 PIP_FIND_LINKS=$PWD/.whl .venv-gpu/bin/python -m pip install -q --no-deps -e . || return 1
      .venv-gpu/bin/python -c 'import importlib.metadata as m; print("\n".join(r for r in m.requires("gcvideo") if "extra ==" not in r and not r.startswith(("torch=", "torchvision"))))' \
        | PIP_NO_INDEX=1 PIP_FIND_LINKS=$PWD/.whl xargs .venv-gpu/bin/python -m pip install -q || return 1
      .venv-gpu/bin/python -m pip install -q --no-deps .whl/torchcodec-*.whl || return 1
      touch .venv-gpu/.installed-stamp
    fi
  }
  echo "no make here: the Makefile's recipe by hand"
fi
if ! make .venv-gpu/.installed-stamp WHEELS=.whl > "$OUT/install.log" 2>&1; then
  tail -30 "$OUT/install.log"; echo "install failed after $SECONDS s"; exit 3
fi
echo "installed in $SECONDS s"
export LD_LIBRARY_PATH=$(.venv-gpu/bin/python scripts/av_ffmpeg_links.py /tmp/ffav)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
.venv-gpu/bin/python -c 'import torchcodec; from gcvideo.data.decode import backend_missing as m; print("torchcodec", torchcodec.__version__, "cpu:", m("torchcodec"), "cuda:", m("torchcodec-cuda"))' 2>&1 | tee -a "$OUT/probe.txt"
if [ "${NVDEC_TESTS:-1}" = 1 ]; then
  PYTHONUNBUFFERED=1 timeout 110 .venv-gpu/bin/python -m pytest -q -p no:cacheprovider -rs tests/test_data_decode_cuda.py \
    tests/test_data_decode.py::test_torchcodec_names_a_broken_file_as_pyav_does -k "not training" > "$OUT/nvdec_tests.log" 2>&1
  tail -15 "$OUT/nvdec_tests.log"; echo "NVDEC tests done at $SECONDS s"
fi
if [ "${PROBE:-0}" = 1 ]; then      # which import breaks torchcodec (scripts/device_torchcodec_probe.py)
  timeout 90 .venv-gpu/bin/python scripts/device_torchcodec_probe.py 2>&1 | tee "$OUT/torchcodec_probe.txt"
fi
BUDGET=$(( $(left) - 15 ))
ARGS="--out $OUT/gpu_check.json --work /tmp/gcw --time-limit $BUDGET --steps $STEPS"
if command -v make > /dev/null; then
  PYTHONUNBUFFERED=1 timeout $((BUDGET + 10)) make gpu-check WHEELS=.whl GPU_CHECK_ARGS="$ARGS" > "$OUT/gpu_check.log" 2>&1
else
  PYTHONUNBUFFERED=1 timeout $((BUDGET + 10)) .venv-gpu/bin/python benchmarks/gpu_check.py $ARGS > "$OUT/gpu_check.log" 2>&1
fi
echo "gpu-check exit $? at $SECONDS s"
grep -v -E 'USDT|DeviceProperties|it/s\]|s/it\]' "$OUT/gpu_check.log" | tail -120
tar czf "$OUT/work_logs.tgz" -C /tmp/gcw $(cd /tmp/gcw 2>/dev/null && ls *.log) 2>/dev/null; ls /tmp/gcw
