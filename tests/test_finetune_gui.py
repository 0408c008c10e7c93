"""Model > Fine-tune...: the user model registry and the dialog driving a (fake) trainer process."""

from __future__ import annotations

import sys

import pytest
from fakes import FakeSwitcher

from emolive.config import AppConfig, InferenceConfig
from emolive.core.errors import EmoliveError
from emolive.personal import finetune

# Writes a real (tiny) late-fusion model into --out and reports like `python -m training ... --progress-json`.
FAKE_TRAINER = """
import json, pathlib, sys, time
import numpy as np
from safetensors.numpy import save_file
out = pathlib.Path(sys.argv[sys.argv.index("--out") + 1])
out.mkdir(parents=True, exist_ok=True)
def emit(**e): print(json.dumps(e), flush=True)
emit(event="start", kind=sys.argv[1])
print("epoch 1: loss 0.9", flush=True)
for epoch in (1, 2):
    emit(event="step", epoch=epoch, step=2, steps=4, loss=1.0 / epoch)
    (out / "last.pt").write_bytes(b"state")  # like fit(): the resumable state first, then the report
    emit(event="epoch", epoch=epoch, epochs=2, train_loss=1.0 / epoch, val={"macro_f1": 0.3 + epoch / 10},
         best=0.3 + epoch / 10, monitor="macro_f1")
    if "--sleep" in sys.argv:
        time.sleep(30)
save_file({"weight_logits": np.zeros(3, np.float32), "class_bias": np.zeros(7, np.float32)},
          str(out / "model.safetensors"))
(out / "config.json").write_text(json.dumps({"kind": "late_fusion"}))
emit(event="done", before={"macro_f1": 0.25, "accuracy": 0.3}, after={"macro_f1": 0.5, "accuracy": 0.55,
     "labels": ["a", "b"], "confusion": [[3, 1], [0, 4]]}, out=str(out), monitor="macro_f1")
"""


# --- registry -------------------------------------------------------------------------------------
def _fake_model(directory):
    from safetensors.numpy import save_file

    directory.mkdir(parents=True, exist_ok=True)
    import numpy as np

    save_file({"w": np.zeros(1, np.float32)}, str(directory / "model.safetensors"))
    (directory / "config.json").write_text('{"kind": "crossmodal"}')
    return directory


def test_registry_lists_finished_models_with_cards_and_resumes_unfinished_runs(tmp_path):
    first = finetune.run_dir("text", tmp_path)
    assert first.parent == tmp_path / "text" and not first.exists()
    _fake_model(first)
    (first / "last.pt").write_bytes(b"x")
    assert finetune.run_dir("text", tmp_path) == first  # unfinished: resume it
    assert finetune.list_models("text", tmp_path) == []
    model = finetune.finish(first, "text", {"macro_f1": 0.2}, {"macro_f1": 0.4, "labels": ["x", "y"],
                                                                "confusion": [[1, 0], [0, 1]]}, ["cmd"], "data/")
    card = (first / "MODEL_CARD.md").read_text()
    assert "| macro_f1 | 0.2000 | 0.4000 |" in card and "non-commercial" in card and "| x | 1 | 0 |" in card
    assert not (first / "last.pt").exists()
    assert [m.path for m in finetune.list_models(None, tmp_path)] == [first] and "0.400" in model.label
    assert finetune.run_dir("text", tmp_path) != first


def test_activate_and_revert_give_inference_configs(tmp_path):
    folder = _fake_model(tmp_path / "fusion" / "x")
    active = finetune.activate(InferenceConfig(), "fusion", folder)
    assert active.fusion_model == str(folder) and active.fusion == "crossmodal"
    assert finetune.activate(InferenceConfig(), "face", folder).face_model == str(folder)
    back = finetune.revert(active, "fusion")
    assert back.fusion_model == "" and back.fusion == "late"
    with pytest.raises(EmoliveError, match="no model"):
        finetune.activate(InferenceConfig(), "text", tmp_path / "empty")
    with pytest.raises(EmoliveError, match="unknown model kind"):
        finetune.revert(InferenceConfig(), "smell")


def test_finish_without_weights_is_a_clear_error(tmp_path):
    with pytest.raises(EmoliveError, match="no model"):
        finetune.finish(tmp_path, "face", {}, {})


# --- dialog ---------------------------------------------------------------------------------------
@pytest.fixture
def dialog_factory(qtbot, tmp_path):
    from emolive.gui.finetune_dialog import FineTuneDialog

    def make(pipeline=None, extra=""):
        dialog = FineTuneDialog(None, pipeline, AppConfig(), program=[sys.executable, "-c", FAKE_TRAINER],
                                root=tmp_path / "models")
        qtbot.addWidget(dialog)
        dialog.kind.setCurrentText("fusion")
        (tmp_path / "clips.csv").touch()
        dialog.data.setText(str(tmp_path / "clips.csv"))
        dialog.epochs.setValue(2)
        dialog.extra.setText(extra)
        return dialog

    return make


def test_dialog_reports_progress_compares_metrics_and_hot_swaps(dialog_factory, qtbot, tmp_path):
    pipeline = FakeSwitcher()
    dialog = dialog_factory(pipeline)
    out = dialog.out.text()
    assert out.startswith(str(tmp_path / "models" / "fusion"))
    assert dialog.arguments()[:8] == ["fusion", "--progress-json", "--out", out, "--arch", "crossmodal", "--csv",
                                      str(tmp_path / "clips.csv")]
    assert dialog.start()
    qtbot.waitUntil(lambda: dialog.result is not None and not dialog.running, timeout=20_000)
    assert dialog.progress.value() == 1000
    assert list(dialog.plot.score_curve.getData()[1]) == pytest.approx([0.4, 0.5])
    assert "before 0.2500, after 0.5000" in dialog.metrics.text()
    assert "accuracy: before 0.3000, after 0.5500" in dialog.metrics.text()
    assert [m.path.name for m in finetune.list_models("fusion", tmp_path / "models")] == [dialog.new_model.path.name]

    dialog.use_button.click()
    qtbot.waitUntil(lambda: "Switched" in dialog.status.text(), timeout=5_000)
    assert pipeline.swaps[-1].fusion_model == out and pipeline.swaps[-1].fusion == "late"
    assert dialog.back_button.isEnabled()
    dialog.back_button.click()
    qtbot.waitUntil(lambda: len(pipeline.swaps) == 2 and "Switched" in dialog.status.text(), timeout=5_000)
    assert pipeline.swaps[-1] == InferenceConfig()


def test_cancel_stops_the_trainer_and_the_next_start_resumes_its_folder(dialog_factory, qtbot):
    dialog = dialog_factory(extra="--sleep")
    assert dialog.start()
    qtbot.waitUntil(lambda: len(dialog._losses) == 1, timeout=20_000)
    dialog.stop_button.click()
    qtbot.waitUntil(lambda: not dialog.running, timeout=10_000)
    assert dialog.result is None and "resume" in dialog.status.text() and dialog.start_button.isEnabled()
    assert not dialog.use_button.isEnabled()
    again = dialog_factory()
    assert again.out.text() == dialog.out.text()  # the unfinished run is picked up again


def test_without_a_pipeline_the_window_gets_the_model(dialog_factory, qtbot):
    dialog = dialog_factory()
    dialog.start()
    qtbot.waitUntil(lambda: dialog.result is not None and not dialog.running, timeout=20_000)
    with qtbot.waitSignal(dialog.model_ready) as ready:
        dialog.use_button.click()
    assert ready.args == ["fusion", dialog.out.text()]


def test_starting_from_the_model_in_use_passes_it_to_the_trainer(dialog_factory):
    from emolive.models.assets import default_model_dir

    dialog = dialog_factory()
    assert not dialog.from_current.isEnabled()  # fusion cannot start from a model
    dialog.kind.setCurrentText("voice")
    assert dialog.from_current.isEnabled()
    dialog.from_current.setChecked(True)
    args = dialog.arguments()
    assert args[args.index("--init") + 1] == str(default_model_dir("voice")) and "whisper" in args
    dialog.config = AppConfig(inference=InferenceConfig(face_model="/my/face"))
    dialog.kind.setCurrentText("face")
    assert dialog.arguments()[dialog.arguments().index("--init") + 1] == "/my/face"


def test_start_is_enabled_only_when_the_data_can_work(qtbot, tmp_path):
    from emolive.gui.finetune_dialog import FineTuneDialog

    dialog = FineTuneDialog(None, None, AppConfig(), program=[sys.executable, "-c", FAKE_TRAINER],
                            root=tmp_path / "models")
    qtbot.addWidget(dialog)
    assert not dialog.start_button.isEnabled() and "Choose the training data" in dialog.start_button.toolTip()
    assert not dialog.start() and "Choose the training data" in dialog.status.text() and dialog.process is None
    dialog.data.setText(str(tmp_path / "absent"))
    assert not dialog.start_button.isEnabled() and "does not exist" in dialog.start_button.toolTip()
    dialog.data.setText(str(tmp_path))
    assert dialog.start_button.isEnabled()  # face: a folder
    dialog.kind.setCurrentText("fusion")
    assert not dialog.start_button.isEnabled() and "CSV file" in dialog.start_button.toolTip()
    assert not hasattr(dialog, "sessions")  # no disabled "Use my recorded sessions" box that never enables


def test_a_trainer_error_is_shown_as_a_sentence(qtbot, tmp_path):
    from emolive.gui.finetune_dialog import FineTuneDialog

    failing = "import sys; sys.stderr.write('usage: python -m training face [-h] ...\\n" \
              "python -m training face: error: the following arguments are required: --data\\n'); sys.exit(2)"
    dialog = FineTuneDialog(None, None, AppConfig(), program=[sys.executable, "-c", failing], root=tmp_path / "m")
    qtbot.addWidget(dialog)
    dialog.data.setText(str(tmp_path))
    assert dialog.start()
    qtbot.waitUntil(lambda: not dialog.running and "stopped" in dialog.status.text(), timeout=20_000)
    assert dialog.status.text() == "The trainer stopped: The following arguments are required: --data."


def test_progress_plot_names_the_metric_in_a_title_that_fits(qtbot, tmp_path):
    from emolive.gui.finetune_dialog import FineTuneDialog

    dialog = FineTuneDialog(None, None, AppConfig(), program=[sys.executable, "-c", FAKE_TRAINER],
                            root=tmp_path / "models")
    qtbot.addWidget(dialog)
    for epoch in (1, 2):
        dialog.handle({"event": "epoch", "epoch": epoch, "epochs": 2, "train_loss": 1.0 / epoch,
                       "monitor": "macro_f1", "val": {"macro_f1": 0.3 * epoch}})
    item = dialog.plot.getPlotItem()
    assert "validation macro f1" in item.titleLabel.text
    assert not item.getAxis("left").labelText  # no rotated axis label to be cut off at the top
    assert dialog.plot.score_curve.getData()[1].tolist() == [0.3, 0.6]
