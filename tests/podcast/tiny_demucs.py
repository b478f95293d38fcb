"""A tiny, randomly initialised HTDemucs saved as a local demucs model folder.

The folder is laid out the way `demucs.repo.LocalRepo` / `BagOnlyRepo` expect, so
`demucs.pretrained.get_model(name, repo=folder)` (and `nightowl.podcast.separate.load_model`)
load it through the real loader:

    <folder>/<name>.yaml              bag of models: ``models: [<sig>]``
    <folder>/<sig>-<sha256[:8]>.th    ``torch.save`` of a package {klass, args, kwargs, state}

The `.th` file name carries the first 8 hex digits of the sha256 of its bytes, which
`LocalRepo` verifies (`demucs.repo.check_checksum`); `demucs.states.save_with_checksum`
writes exactly that. Weights are random (seeded, so the folder is byte-for-byte
reproducible); the model separates nothing, but it exercises the whole code path in seconds.
"""

from __future__ import annotations

from pathlib import Path

SOURCES = ["drums", "bass", "other", "vocals"]
SAMPLERATE = 44100
SEGMENT = 1  # seconds: the HTDemucs "training length" every chunk is padded to


def _package(model) -> dict:
    """What `demucs.states.serialize_model` returns, without the training args.

    `serialize_model` imports omegaconf only to store the training args, which loading never
    reads; use it when omegaconf is there, else build the same dict from demucs's own pieces.
    """
    from demucs import states

    try:
        from omegaconf import OmegaConf
    except ImportError:
        args, kwargs = model._init_args_kwargs
        return {
            "klass": model.__class__,
            "args": args,
            "kwargs": kwargs,
            "state": states.get_state(model, None, half=False),
            "training_args": {},
        }
    return states.serialize_model(model, OmegaConf.create({}), half=False)


def build_tiny_demucs(folder: Path, name: str = "tiny") -> Path:
    """Write a tiny HTDemucs model folder loadable with ``get_model(name, repo=folder)``."""
    import torch
    from demucs.htdemucs import HTDemucs
    from demucs.states import save_with_checksum

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1234)
        model = HTDemucs(
            sources=list(SOURCES),
            audio_channels=2,
            samplerate=SAMPLERATE,
            segment=SEGMENT,
            channels=4,
            depth=3,
            nfft=1024,
            t_layers=1,
            t_heads=2,
            dconv_comp=2,
        )
    sig = f"{name.replace('-', '_')}0"  # a model signature distinct from the bag name
    for stale in folder.glob(f"{sig}-*.th"):
        stale.unlink()
    save_with_checksum(_package(model), folder / f"{sig}.th")
    (folder / f"{name}.yaml").write_text(f"models: ['{sig}']\n")
    return folder
