"""gcvideo: Global Context (GCNet) blocks for video action recognition."""
from setuptools import find_packages, setup

setup(
    name="gcvideo",
    version="0.3.0",
    description="GCNet global-context blocks and Slow-only ResNet-50 video models on "
    "PyTorch, PyTorchVideo and PyTorch Lightning",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["gcvideo", "gcvideo.*"]),
    # the shipped configs (gcvideo.configs resolves --config names against them)
    package_data={"gcvideo.configs": ["*/*.yaml", "*/*/*.yaml"]},
    install_requires=[
        # Pinned: these are the releases that install from local wheels on the
        # project's machines; other versions pull multi-GB CUDA builds.
        "torch==2.14.1",
        "torchvision==0.29.1",
        "pytorchvideo>=0.1.5",
        "av>=12",
        "decord>=0.6",
        "pytorch-lightning>=2.4",
        "torchmetrics>=1.4",
        # fvcore counts one multiply-add as one FLOP: the convention of the GCNet,
        # SlowFast and Non-local papers (41.9 GFLOPs for Slow-only R50 at 8x224^2).
        "fvcore>=0.1.5",
        "jsonargparse[signatures]>=4.27",
        "tensorboard",
        "matplotlib",
        "tqdm",
        "pyyaml",
    ],
    extras_require={
        "export": ["onnx", "onnxscript", "onnxruntime"],
        # data.backend torchcodec (it also needs FFmpeg's shared libraries, 4 to 9; its CUDA build: data.backend torchcodec-cuda)
        "torchcodec": ["torchcodec"],
        # the peers the interop tests run (mmaction2 itself: --no-deps, see the Makefile)
        "test": ["pytest>=7", "onnx", "onnxscript", "onnxruntime", "mmengine", "mmcv-lite==2.2.0", "einops",
                 "torchcodec==0.17.0",
                 "scikit-learn"],   # average_precision_score: PySlowFast's Charades mAP, checked against
    },
    entry_points={"console_scripts": ["gcvideo=gcvideo.cli:main"]},
)
