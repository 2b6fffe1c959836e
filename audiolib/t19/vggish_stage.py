"""The pretrained-embedding branch: YAMNet (a real AudioSet-trained network), the official VGGish
when its weights are supplied, else a VGGish trained here.

Tompkins & Nichols used the published VGGish (PCA post-processed) as a frozen extractor: ten
128-d embeddings per 10 s clip. YAMNet (MobileNet-v1 on AudioSet) gives 1024-d per 0.96 s: a
different network, same corpus. Without either, a VGGish is trained here as a tagger of 0.96 s
examples labelled with their clip's tags (H17's recipe), on T19's inputs (every augmented copy
needs the embedding of its own audio).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from audiolib.data.patches import PatchSet
from audiolib.models import create_model
from audiolib.models.vggish import load_vggish_pca, vggish_postprocess
from audiolib.models.yamnet import load_yamnet, yamnet_files, yamnet_missing
from audiolib.runtime import resolve_device
from audiolib.t19.inputs import T19Inputs
from audiolib.train import TrainConfig
from audiolib.trials import Trial, run_trial


@dataclass
class VGGishBranch:
    """A VGGish (or YAMNet) used as a frozen embedder; ``description`` (for every table) says which,
    ``pca`` is the published post-processing, ``trial`` its training when trained here."""

    model: torch.nn.Module
    description: str
    pca: tuple[torch.Tensor, torch.Tensor] | None = None
    trial: Trial | None = None
    network: str = "vggish"
    trained_on: str = ""

    @torch.no_grad()
    def embed(self, examples: torch.Tensor, *, device="auto") -> torch.Tensor:
        """``[n, k, 96, 64]`` examples -> ``[n, k, D]`` embeddings (float32, CPU; D 128 or 1024 for YAMNet)."""
        device = resolve_device(device)
        model = self.model.to(device).eval()
        flat = examples.reshape(-1, 1, *examples.shape[-2:])
        emb = torch.cat([model.embedding(flat[i:i + 256].to(device).float()).cpu() for i in range(0, len(flat), 256)])
        if self.pca is not None:
            emb = vggish_postprocess(emb, *self.pca)
        return emb.reshape(*examples.shape[:2], -1).float()


def embedding_branch(network: str, inputs: T19Inputs, *, weights: str | None = None, pca: str | None = None,
                     width: float = 1.0, steps: int = 2000, batch_size: int = 64, seed: int = 0,
                     device="auto") -> VGGishBranch:
    """The pretrained branch by name: YAMNet's released weights (``"yamnet"``: 1024-d per 0.96 s), the
    official VGGish (``"vggish"`` with ``weights``), or a VGGish trained on ``inputs``' training rows.

    ``inputs`` must hold the examples of the network's front end. ``pca`` (with ``weights`` only): the
    PCA parameters' path. Trained here: Adam at 1e-3 on the clip's fine + coarse tags, every 0.96 s
    example inheriting its clip's tags.
    """
    if inputs.front_end != network:
        raise ValueError(f"{inputs.name}: {network} needs its own front end; extract with front_end={network!r}")
    if network == "yamnet":
        text = (f"YAMNet ({yamnet_files()['tflite'].name}, Google's AudioSet release, int8 weights dequantised, "
                "PyTorch port), trained on AudioSet (about 2 M YouTube clips, 521 classes); 1024-d embedding per "
                "0.96 s; not the report's VGGish")
        return VGGishBranch(load_yamnet(device="cpu").eval(), text, network="yamnet",
                            trained_on="AudioSet (about 2 M YouTube clips, 521 classes)")
    if weights:
        model = create_model("vggish", 1, weights=weights)
        pca_params = load_vggish_pca(pca) if pca else None
        text = f"official VGGish weights ({Path(weights).name}" + (", with PCA post-processing)" if pca else ", no PCA)")
        return VGGishBranch(model, text, pca_params, trained_on="AudioSet (YouTube-8M-like corpus; the published VGGish weights)")
    rows = inputs.rows("train")
    k = inputs.examples.shape[1]
    patches = inputs.examples[torch.as_tensor(rows)].reshape(-1, 96, 64).float()
    clip_targets = torch.from_numpy(np.hstack([inputs.fine[rows], inputs.coarse[rows]]))
    clip_index = torch.arange(len(rows)).repeat_interleave(k)
    data = PatchSet(patches, clip_targets[clip_index], clip_index, clip_targets, [inputs.clip_ids[i] for i in rows],
                    list(inputs.taxonomy.fine) + list(inputs.taxonomy.coarse))
    trial = run_trial("vggish", data, TrainConfig(steps=steps, batch_size=min(batch_size, len(data)), lr=1e-3, seed=seed,
                                                  device=str(resolve_device(device)), progress=False),
                      num_classes=clip_targets.shape[1], model_kwargs={"width": width}, ids={"model": "vggish"})
    text = (f"VGGish architecture trained in this workbook (width {width:g}, {steps} steps of {batch_size}) on the "
            f"{len(rows)} training clips of {inputs.name}; not the published weights")
    return VGGishBranch(trial.model.cpu().eval(), text, None, trial,
                        trained_on=f"{len(rows)} training clips of {inputs.name} (this workbook)")


def resolve_embedding(network: str, fusion: str) -> tuple[str, str]:
    """``(network, fusion)`` from the notebook's ``EMBEDDING_NETWORK`` and ``FUSION`` (``"auto"`` allowed).

    ``network="auto"``: YAMNet when its port and release file are here, else VGGish.
    ``fusion="auto"``: Table 2's bilinear layer for VGGish's 10 x 128 values; sec. 4.1's
    concatenation for YAMNet's 10 x 1024 (a bilinear layer would hold 256 x 10240 x 512 weights).
    """
    if network == "auto":
        network = "vggish" if yamnet_missing() else "yamnet"
    if network not in ("yamnet", "vggish"):
        raise ValueError(f"parameter EMBEDDING_NETWORK: must be 'auto', 'yamnet' or 'vggish', got {network!r}")
    if fusion == "auto":
        fusion = "concat" if network == "yamnet" else "bilinear"
    return network, fusion
