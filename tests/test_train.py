"""Training: the loss falls and a checkpoint is written, --resume continues, torchrun + gloo."""

import json
import os
import subprocess
import sys

import pytest
import torch
import yaml

from crowdpose3d.core.checkpoint import load_checkpoint
from crowdpose3d.data.synth import SynthConfig, generate_dataset
from crowdpose3d.engine.trainer import load_config, train


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    config = SynthConfig(num_frames=12, width=240, height=144, min_people=3, max_people=8)
    generate_dataset(root, config, {"train": 2}, seed=3, progress=False)
    return root


def write_config(path, synth_root, output, **changes):
    config = {
        "output_dir": str(output),
        "data": [{"type": "jta", "root": str(synth_root), "split": "train"}],
        "model": {"preset": "tiny", "num_anchors": 4},
        "input_size": [96, 160],
        "batch_size": 4,
        "epochs": 3,
        "num_workers": 0,
        "learning_rate": 0.01,
    }
    config.update(changes)
    path.write_text(yaml.safe_dump(config))
    return path


def read_log(output):
    return [json.loads(line) for line in (output / "log.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_training_lowers_the_loss_and_writes_a_loadable_checkpoint(synth_root, tmp_path):
    output = tmp_path / "run"
    config = load_config(write_config(tmp_path / "c.yaml", synth_root, output))
    last = train(config, progress=False)
    log = read_log(output)
    assert [r["epoch"] for r in log] == [0, 1, 2]
    assert log[-1]["loss/total"] < log[0]["loss/total"]
    assert log[-1]["loss/2d"] < log[0]["loss/2d"]
    assert {"task/cls", "task/3d", "anchor/cls", "joint/2d", "lr"} <= set(log[0])
    assert len(log[0]["joint/3d"]) == 4 and len(log[0]["joint/3d"][0]) == 22
    checkpoint = load_checkpoint(last)
    assert checkpoint.anchors.shape == (4, 2)
    assert checkpoint.input_size == (96, 160)
    assert checkpoint.metadata["epoch"] == 2


@pytest.mark.slow
def test_resume_continues_where_it_stopped(synth_root, tmp_path):
    output = tmp_path / "run"
    path = write_config(tmp_path / "c.yaml", synth_root, output, epochs=1)
    train(load_config(path), progress=False)
    first = load_checkpoint(output / "last.pt")
    write_config(path, synth_root, output, epochs=2)
    train(load_config(path), resume=True, progress=False)
    log = read_log(output)
    assert [r["epoch"] for r in log] == [0, 1]
    assert log[1]["iteration"] == 2 * log[0]["iteration"]
    resumed = load_checkpoint(output / "last.pt")
    torch.testing.assert_close(resumed.anchors, first.anchors)  # not recomputed
    assert resumed.extra["optimizer"]["state"], "momentum buffers were saved"
    weights = resumed.model.state_dict()["score_head.output.bias"]
    assert not torch.equal(weights, first.model.state_dict()["score_head.output.bias"])


@pytest.mark.slow
def test_two_process_gloo_run_completes(synth_root, tmp_path):
    output = tmp_path / "ddp"
    path = write_config(tmp_path / "c.yaml", synth_root, output, epochs=1)
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=2",
            "--master_port=29533",
            "-m",
            "crowdpose3d.cli",
            "train",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    log = read_log(output)
    assert len(log) == 1
    # 2 sequences x 12 frames = 24 samples, global batch 4 -> 6 iterations per epoch.
    assert log[0]["iteration"] == 6
    assert load_checkpoint(output / "last.pt").metadata["epoch"] == 0


def test_config_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"output_dir": "x", "data": [{"root": "x"}], "epochs": 0}))
    result = subprocess.run(
        [sys.executable, "-m", "crowdpose3d.cli", "train", str(bad)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "epochs" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_init_from_starts_with_the_weights_and_anchors_of_a_checkpoint(synth_root, tmp_path):
    first = tmp_path / "first"
    train(
        load_config(write_config(tmp_path / "a.yaml", synth_root, first, epochs=1)), progress=False
    )
    source = load_checkpoint(first / "last.pt")
    second = tmp_path / "second"
    path = write_config(
        tmp_path / "b.yaml",
        synth_root,
        second,
        epochs=1,
        max_iterations=1,
        learning_rate=1e-9,
        init_from=str(first / "last.pt"),
        seed=5,
    )
    train(load_config(path), progress=False)
    started = load_checkpoint(second / "last.pt")
    torch.testing.assert_close(started.anchors, source.anchors)  # not recomputed with seed 5
    name = "score_head.output.weight"
    torch.testing.assert_close(
        started.model.state_dict()[name], source.model.state_dict()[name], atol=1e-6, rtol=0
    )


def test_init_from_a_different_model_is_refused(synth_root, tmp_path):
    path = write_config(
        tmp_path / "c.yaml", synth_root, tmp_path / "run", init_from="builtin:crowd-small"
    )
    with pytest.raises(ValueError, match="init_from"):
        train(load_config(path), progress=False)  # tiny/4 anchors vs small/10 anchors


@pytest.mark.slow
def test_checkpoint_every_saves_mid_epoch(synth_root, tmp_path, monkeypatch):
    import crowdpose3d.engine.trainer as training

    saves = []

    def recording_save(path, *args, metadata=None, **kwargs):
        saves.append((metadata["epoch"], metadata["iteration"]))
        return real_save(path, *args, metadata=metadata, **kwargs)

    real_save = training.save_checkpoint
    monkeypatch.setattr(training, "save_checkpoint", recording_save)
    # 24 samples, batch 4 -> 6 iterations per epoch; saved after 2 and 4 (epoch 0 not yet
    # complete, so a resume runs it again), then at the end of epoch 0 (iteration 6).
    path = write_config(
        tmp_path / "c.yaml", synth_root, tmp_path / "run", epochs=1, checkpoint_every=2
    )
    train(load_config(path), progress=False)
    assert saves == [(-1, 2), (-1, 4), (-1, 6), (0, 6)]


def test_training_steps_run_alone_and_share_the_evaluation_data_switch(synth_root, tmp_path):
    from crowdpose3d.core.skeleton import JTA22
    from crowdpose3d.engine.datasets import parse_data
    from crowdpose3d.engine.evaluator import load_samples
    from crowdpose3d.engine.trainer import (
        build_model_and_loss,
        initial_state,
        open_training_data,
        set_up_processes,
    )

    config = load_config(write_config(tmp_path / "c.yaml", synth_root, tmp_path / "run"))
    assert set_up_processes(config).world == 1
    samples = open_training_data(config, JTA22)
    # `type: jta, root: R` in a training config and `--data jta:R` / `--data R` in eval
    # name the same loader and frames.
    assert parse_data(f"jta:{synth_root}") == parse_data(synth_root) == ("jta", synth_root)
    evaluated = load_samples(f"jta:{synth_root}", split="train")
    assert [s.frame for s in samples] == [s.frame for s in evaluated]
    model, criterion = build_model_and_loss(config, JTA22)
    state = initial_state(config, model, criterion, samples, resume=False)  # k-means
    assert state.anchors.shape == (4, 2) and 0 < state.anchor_fit <= 1
    assert (state.start_epoch, state.iteration, state.extra) == (0, 0, {})
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        initial_state(config, model, criterion, samples, resume=True)
