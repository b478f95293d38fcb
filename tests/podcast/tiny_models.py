"""Tiny, randomly initialised stand-ins for the podcast pipeline's pretrained models.

They are built on the fly (seeded, deterministic, a few seconds) in exactly the layout the
real loaders read, so tests exercise the real loading and inference code paths offline.
Their outputs are meaningless: they prove plumbing, not quality.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# pyannote.audio 4's `Pipeline.from_pretrained(folder)` reads `folder/config.yaml`; entries
# written "$model/<sub>" are expanded to {"checkpoint": folder, "subfolder": "<sub>"}, so
# `Model.from_pretrained` reads `folder/<sub>/pytorch_model.bin` and `PLDA.from_pretrained`
# reads `folder/<sub>/xvec_transform.npz` + `folder/<sub>/plda.npz`. (A plain relative path
# would be taken relative to the current directory, not to the folder.)
_CONFIG = """\
# tiny random stand-in for pyannote/speaker-diarization-community-1 (tests only)
dependencies:
  pyannote.audio: 4.0.0
pipeline:
  name: pyannote.audio.pipelines.SpeakerDiarization
  params:
    clustering: VBxClustering
    segmentation: $model/segmentation
    segmentation_batch_size: 32
    embedding: $model/embedding
    embedding_batch_size: 32
    embedding_exclude_overlap: true
    plda: $model/plda
params:
  clustering:
    threshold: 0.6
    Fa: 0.07
    Fb: 0.8
  segmentation:
    min_duration_off: 0.0
"""

SEGMENTATION_DURATION = 5.0  # seconds per segmentation chunk (community-1 uses 10 s)
NUM_MEL_BINS = 16  # WeSpeaker fbank bins (the real model uses 80); must be a multiple of 8
LDA_DIMENSION = 128  # PLDA space, as pyannote's PLDA(lda_dimension=128) expects


def _save_checkpoint(model, path: Path) -> None:
    """Save `model` the way pyannote.audio's own checkpoints are laid out (cf. its
    `models/embedding/wespeaker/convert.py` and `pyannote-audio strip`): the keys
    lightning needs to rebuild the architecture plus pyannote's own block."""
    import lightning
    import torch

    checkpoint = {
        "state_dict": model.state_dict(),
        "hyper_parameters": dict(model.hparams),
        "pytorch-lightning_version": lightning.__version__,
    }
    model.on_save_checkpoint(checkpoint)  # adds "pyannote.audio": versions, class, specifications
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, path)


def _tiny_segmentation():
    """A powerset PyanNet (3 local speakers, at most 2 at once), like segmentation-3.0, but tiny."""
    from pyannote.audio.core.task import Problem, Resolution, Specifications
    from pyannote.audio.models.segmentation import PyanNet

    model = PyanNet(
        lstm={"hidden_size": 16, "num_layers": 1, "bidirectional": True, "monolithic": True},
        linear={"hidden_size": 16, "num_layers": 1},
    )
    model.specifications = Specifications(
        problem=Problem.MONO_LABEL_CLASSIFICATION,
        resolution=Resolution.FRAME,
        duration=SEGMENTATION_DURATION,
        min_duration=SEGMENTATION_DURATION,
        warm_up=(0.0, 0.0),
        classes=["speaker#1", "speaker#2", "speaker#3"],
        powerset_max_classes=2,
        permutation_invariant=True,
    )
    model.setup()  # adds the task-dependent classifier for these specifications
    model.eval()
    _spread_classifier(model)
    return model


def _spread_classifier(model, gain: float = 40.0) -> None:
    """Re-draw the final classifier so the random model's output is not degenerate.

    A plain random PyanNet predicts the same powerset class ({speaker 1, speaker 2}) on
    every frame, so no frame is single-speaker, no embedding is kept for clustering and
    VBx/PLDA never run. Here the three single-speaker classes get random directions,
    scaled up and centred on the features the model gives for seeded white noise; silence
    stays at 0 and the two-speaker classes are ruled out. The output flickers between
    silence and speakers 1-3: meaningless, but it drives every stage of the pipeline."""
    import torch

    generator = torch.Generator().manual_seed(1)
    noise = 0.1 * torch.randn(1, 1, int(SEGMENTATION_DURATION * 16000), generator=generator)
    features = {}
    hook = model.classifier.register_forward_hook(lambda m, inputs, o: features.update(h=inputs[0]))
    with torch.inference_mode():
        model(noise)
    hook.remove()
    centre = features["h"][0].mean(dim=0)
    weight = torch.randn(model.classifier.out_features, model.classifier.in_features,
                         generator=generator)
    weight[0] = 0.0  # silence
    weight[4:] = 0.0  # pairs of speakers
    with torch.no_grad():
        model.classifier.weight.copy_(gain * weight)
        bias = -gain * weight @ centre
        bias[0] = 0.0
        bias[4:] = -20.0
        model.classifier.bias.copy_(bias)


def _tiny_embedding():
    """The community-1 embedding architecture (WeSpeaker ResNet34, 256-d) on few fbank bins."""
    from pyannote.audio.core.task import Problem, Resolution, Specifications
    from pyannote.audio.models.embedding import WeSpeakerResNet34

    model = WeSpeakerResNet34(num_mel_bins=NUM_MEL_BINS)
    model.specifications = Specifications(
        problem=Problem.REPRESENTATION, resolution=Resolution.CHUNK, duration=5.0
    )
    return model


def _write_plda(folder: Path, dimension: int, rng: np.random.Generator) -> None:
    """Random but valid VBx PLDA files, with the array names pyannote's `vbx_setup` reads:
    xvec_transform.npz: mean1 (D,), mean2 (L,), lda (D, L);
    plda.npz: mu (L,), tr (L, L) invertible, psi (L,) positive."""
    folder.mkdir(parents=True, exist_ok=True)
    lda_dim = LDA_DIMENSION
    np.savez(
        folder / "xvec_transform.npz",
        mean1=rng.normal(0.0, 0.1, dimension),
        mean2=rng.normal(0.0, 0.1, lda_dim),
        lda=rng.normal(0.0, 1.0 / np.sqrt(dimension), (dimension, lda_dim)),
    )
    tr, _ = np.linalg.qr(rng.normal(size=(lda_dim, lda_dim)))  # orthogonal, so invertible
    np.savez(
        folder / "plda.npz",
        mu=rng.normal(0.0, 0.1, lda_dim),
        tr=tr,
        psi=np.sort(rng.uniform(0.1, 10.0, lda_dim))[::-1].copy(),
    )


def build_tiny_pyannote(folder: Path) -> Path:
    """Build, in `folder`, a tiny random speaker-diarization pipeline that pyannote.audio 4's
    `Pipeline.from_pretrained(folder)` loads like `pyannote/speaker-diarization-community-1`:

        folder/config.yaml
        folder/segmentation/pytorch_model.bin   (PyanNet, powerset, tiny LSTM)
        folder/embedding/pytorch_model.bin      (WeSpeakerResNet34, 16 mel bins, 256-d)
        folder/plda/xvec_transform.npz, folder/plda/plda.npz

    Seeded: the same files every time. Returns `folder`."""
    import torch

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        segmentation = _tiny_segmentation()
        embedding = _tiny_embedding()
    _save_checkpoint(segmentation, folder / "segmentation" / "pytorch_model.bin")
    _save_checkpoint(embedding, folder / "embedding" / "pytorch_model.bin")
    _write_plda(folder / "plda", embedding.dimension, np.random.default_rng(0))
    (folder / "config.yaml").write_text(_CONFIG)
    return folder
