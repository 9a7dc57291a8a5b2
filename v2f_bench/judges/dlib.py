"""dlib's pretrained ResNet face descriptor as a judge (``--judge dlib``).

The network is ``dlib.face_recognition_model_v1`` on ``dlib_face_recognition_resnet_model_v1.dat``:
a 128-d descriptor of a 150x150 aligned face chip (dlib's model reaches 99.38 % on LFW with its own
alignment). Both weight files ship inside the installed ``face-recognition-models`` package and are
found with ``packaged_files.package_file`` (importing that package fails on our setuptools: it imports
``pkg_resources``). Nothing downloads, a missing ``.dat`` is a one-line error, and dlib runs on the CPU
whatever ``device`` says (dlib-bin has no CUDA build).

Two alignments (``JudgeConfig.align``, ``--judge-align``):

- ``landmarks`` (default): the prepared crops are already aligned by the dataset's eye landmarks, so
  a crop is resized to 150x150 and described.
- ``predictor``: dlib's 5-point shape predictor (``shape_predictor_5_face_landmarks.dat``) runs on the
  crop, taking the whole crop as the face rectangle, and ``dlib.get_face_chip(size=150, padding=0.25)``
  cuts dlib's own chip, which is then described.

Generated faces have the layout of the prepared crops, so the same rule applies to them. Descriptors
are L2-normalised before any distance (dlib's are close to, not exactly, unit length; tau's grid
assumes unit vectors), which turns dlib's usual "Euclidean distance < 0.6" into squared distance of
unit vectors; tau is calibrated on the real photos as for every judge.

Cost, measured on 2 CPU cores: 0.11-0.12 s per chip when nothing else runs (the judge stage on the
default data's 432 photos took 51 s) and about 0.17 s on busy cores. Each generator epoch's evaluation
(about 920 generated faces, validation and test) is thus about 2 min (extrapolated from the rate, not
timed), far more than facenet's (about 10 s).

Its state is only its config and input size: the weights come from the package on whichever node runs it.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from v2f_bench.judge import JudgeConfig
from v2f_bench.judges.base import Judge, as_float_images, as_uint8_crops
from v2f_bench.packaged_files import package_file

PACKAGE, DISTRIBUTION = "face_recognition_models", "face-recognition-models"
DESCRIPTOR_FILE = "models/dlib_face_recognition_resnet_model_v1.dat"
PREDICTOR_FILE = "models/shape_predictor_5_face_landmarks.dat"
CHIP_SIZE = 150
CHIP_PADDING = 0.25
"""dlib's own chip geometry (``get_face_chip``'s defaults), which the descriptor was trained on."""


class DlibJudge(Judge):
    name = "dlib"
    summary = ("dlib's pretrained ResNet descriptor (128-d, from face-recognition-models; --judge-align), CPU only: "
               "~0.12 s a face on 2 cores: 51 s for the judge stage and ~2 min per generator epoch on the default data")
    pretrained = True
    input_size = CHIP_SIZE
    embedding_dim = 128

    def __init__(self, config: JudgeConfig, device="cpu", input_size: int | None = None):
        import dlib

        super().__init__(config, "cpu")
        self.describer = dlib.face_recognition_model_v1(str(package_file(PACKAGE, DESCRIPTOR_FILE, DISTRIBUTION)))
        self.predictor = dlib.shape_predictor(str(package_file(PACKAGE, PREDICTOR_FILE, DISTRIBUTION))) if config.align == "predictor" else None

    @classmethod
    def check(cls, config: JudgeConfig) -> None:
        package_file(PACKAGE, DESCRIPTOR_FILE, DISTRIBUTION)
        if config.align == "predictor":
            package_file(PACKAGE, PREDICTOR_FILE, DISTRIBUTION)

    def chips(self, images) -> list[np.ndarray]:
        """The 150x150 uint8 chips the descriptor sees, one per image, by ``config.align``."""
        if self.predictor is None:
            return list(as_uint8_crops(as_float_images(images, CHIP_SIZE)))
        import dlib

        chips = []
        for crop in as_uint8_crops(images):
            height, width = crop.shape[:2]
            shape = self.predictor(crop, dlib.rectangle(0, 0, width - 1, height - 1))
            chips.append(dlib.get_face_chip(crop, shape, size=CHIP_SIZE, padding=CHIP_PADDING))
        return chips

    def embed(self, images, batch_size: int = 128) -> torch.Tensor:
        chips = self.chips(images)
        rows = [np.array(d, dtype=np.float32) for start in range(0, len(chips), batch_size)
                for d in self.describer.compute_face_descriptor(chips[start : start + batch_size])]
        emb = torch.from_numpy(np.stack(rows)) if rows else torch.zeros(0, self.embedding_dim)
        return F.normalize(emb, dim=1)

    @classmethod
    def from_state(cls, state: dict, device="cpu") -> DlibJudge:
        return cls(JudgeConfig(**state["config"]), device)
