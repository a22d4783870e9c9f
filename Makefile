# The two commands of the README. Both create .venv on first use and reinstall
# only when setup.py changes (the stamp file records the last install).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test gpu-check clean-venv

# The tests check gcvideo against its peers' own code: PySlowFast 1.0 and mmaction2 1.2.0 (their
# packages declare detectron2, an mmcv < 2.2 and more, which the modules the tests use never
# import: --no-deps; mmaction2's mmengine, mmcv-lite and einops come with the test extra).
$(STAMP): setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[test]'
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps 'slowfast==1.0' 'mmaction2==1.2.0'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/gcvideo demo

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

# The GPU check (benchmarks/gpu_check.py) in its own venv that sees the CUDA build of
# PyTorch already installed for $(PYTHON) (a .pth file adds that environment's
# site-packages): gcvideo is installed without its torch pin, then whatever else it
# needs and that environment lacks, and torchcodec where WHEELS holds one (its CUDA build decodes
# with NVDEC: data.backend torchcodec-cuda). Offline: `make gpu-check WHEELS=dir` installs only
# from the wheels in dir. GPU_CHECK_ARGS go to the script (--steps, --time-limit, --out ...).
GPU_VENV  := .venv-gpu
GPU_CHECK_ARGS ?=
GPU_BIN   := $(GPU_VENV)/bin
GPU_STAMP := $(GPU_VENV)/.installed-stamp
WHEELS    ?=
PIP_FROM  := $(if $(WHEELS),PIP_NO_INDEX=1 PIP_FIND_LINKS=$(abspath $(WHEELS)))  # env: nested pips too

$(GPU_STAMP): setup.py
	test -x $(GPU_BIN)/python || $(PYTHON) -m venv $(GPU_VENV)
	$(PYTHON) -c 'import site; print("\n".join(site.getsitepackages()))' \
	  > "$$($(GPU_BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/base-env.pth"
	$(PIP_FROM) $(GPU_BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	$(GPU_BIN)/python -c 'import importlib.metadata as m; \
	  print("\n".join(r for r in m.requires("gcvideo") if "extra ==" not in r and not r.startswith(("torch=", "torchvision"))))' \
	  | $(PIP_FROM) xargs $(GPU_BIN)/python -m pip install -q --disable-pip-version-check
	$(if $(wildcard $(WHEELS)/torchcodec-*.whl),$(GPU_BIN)/python -m pip install -q --disable-pip-version-check --no-deps $(wildcard $(WHEELS)/torchcodec-*.whl))
	touch $(GPU_STAMP)

gpu-check: $(GPU_STAMP)
	$(GPU_BIN)/python -c 'import torch; assert torch.cuda.is_available(), "no CUDA device: python benchmarks/gpu_check.py --tiny runs the CPU version"'
	PYTHONUNBUFFERED=1 $(GPU_BIN)/python benchmarks/gpu_check.py $(GPU_CHECK_ARGS)

clean-venv:
	rm -rf $(VENV) $(GPU_VENV)
