"""Kinetics-style video data: layouts, decoding, sampling, transforms, datasets, scans and re-encoding.

Usable without Lightning (the LightningDataModule is ``gcvideo.engine.datamodule``)."""
from .dataset import EpochSampler, VideoClipDataset
from .decode import VideoError, decode_at, probe
from .records import VideoRecord, load_records

__all__ = ["VideoClipDataset", "EpochSampler", "VideoError", "decode_at", "probe",
           "VideoRecord", "load_records"]
