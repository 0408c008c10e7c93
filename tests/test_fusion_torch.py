"""Fusion pieces that need torch: the trainable late-fusion layer, the cross-modal transformer, device choice.

Skipped where torch is not installed (the runtime runs on ONNX Runtime without it).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from fakes import probs  # noqa: E402

from emolive.core.contracts import ModalityOutput  # noqa: E402
from emolive.core.labels import EMOTIONS  # noqa: E402
from emolive.fusion.fuser import UNCERTAIN, Fuser  # noqa: E402
from emolive.fusion.late_model import LateFusion  # noqa: E402


def test_learned_weights_are_non_negative_and_sum_to_one():
    model = LateFusion()
    model.weight_logits.data[:] = torch.tensor([3.0, -1.0, -8.0])
    w = model.modality_weights().detach().numpy()
    assert (w >= 0).all() and w.sum() == pytest.approx(1.0)


def test_cuda_requested_without_a_gpu_runs_on_the_cpu(monkeypatch):
    from emolive.models.device import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("cuda") == "cpu"
    assert resolve_device("auto") == "cpu"
    assert resolve_device("cpu") == "cpu"


def test_crossmodal_fusion_handles_missing_modalities_and_loads_from_a_folder(tmp_path):
    from emolive.fusion.crossmodal import CrossModalConfig, CrossModalTransformer
    from emolive.fusion.fuser import make_fuser
    from emolive.models.io import save_model

    config = CrossModalConfig(face_dim=8, voice_dim=6, text_dim=4, hidden=16, heads=2, layers=1)
    net = CrossModalTransformer(config).eval()
    batch = {"face": torch.randn(2, 5, 8), "voice": torch.randn(2, 3, 6), "text": torch.randn(2, 1, 4)}
    masks = {"face": torch.tensor([[1, 1, 1, 0, 0], [0, 0, 0, 0, 0]], dtype=torch.bool),
             "voice": torch.zeros(2, 3, dtype=torch.bool), "text": torch.ones(2, 1, dtype=torch.bool)}
    out = net(batch, masks)
    assert out["emotion"].shape == (2, 7) and out["sentiment"].shape == (2, 3)
    assert torch.isfinite(out["emotion"]).all()
    assert ((out["valence_arousal"] >= 0) & (out["valence_arousal"] <= 1)).all()
    save_model(net, config.to_dict(), tmp_path / "xm")
    fuser = make_fuser("crossmodal", tmp_path / "xm", smoothing_s=0)
    face = ModalityOutput("face", 1.0, True, emotion=probs("joy"), quality=0.9,
                          embedding=np.ones(8, np.float32))
    result = fuser.fuse({"face": face}, 1.0)
    assert result.dominant in EMOTIONS and abs(sum(result.emotion) - 1) < 1e-5
    assert fuser.fuse({}, 2.0).dominant == UNCERTAIN
    with pytest.raises(Exception, match="fine-tuned model folder"):
        make_fuser("crossmodal", None, 0.5)


def test_numpy_late_pooling_equals_the_trainable_torch_layer() -> None:
    from emolive.fusion.late import late_pool

    rng = np.random.default_rng(3)
    layer = LateFusion()
    with torch.no_grad():
        layer.weight_logits.copy_(torch.tensor([0.4, -0.2, 0.1]))
        layer.class_bias.copy_(torch.from_numpy(rng.normal(0, 0.3, 7)))
    for trust in ([1.0, 0.5, 0.2], [0.0, 0.8, 0.0], [0.3, 0.0, 1.0]):
        log_probs = np.log(rng.dirichlet(np.ones(7), size=3))
        fused, a = late_pool(log_probs, np.array(trust), layer.weight_logits.detach().double().numpy(),
                             layer.class_bias.detach().double().numpy())
        with torch.no_grad():
            ref_fused, ref_a = layer(torch.from_numpy(log_probs[None]).float(), torch.tensor([trust]))
        assert np.allclose(fused, ref_fused[0].numpy(), atol=1e-5) and np.allclose(a, ref_a[0].numpy(), atol=1e-6)
    assert np.allclose(Fuser(layer).model.class_bias.detach().numpy(), layer.class_bias.detach().numpy())
