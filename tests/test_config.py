"""The device the lessons pick and the threads torch gets (utils.config): CUDA when there is one, the CPU on a
Mac under the laptop profile unless WORKBOOK_DEVICE asks for MPS, and WORKBOOK_THREADS reaching torch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from utils import config

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def machine(monkeypatch):
    """A machine whose devices the test chooses: ``machine(cuda=..., mps=...)`` makes torch report them."""
    monkeypatch.delenv("WORKBOOK_DEVICE", raising=False)
    monkeypatch.delenv("WORKBOOK_PROFILE", raising=False)

    def have(cuda: bool = False, mps: bool = False) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: int(cuda))
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)

    return have


def test_a_mac_runs_the_laptop_profile_on_the_cpu(machine):
    machine(mps=True)
    assert config.device_available("mps"), "torch says MPS is there"
    assert config.get_device() == torch.device("cpu")
    assert config.get_device("laptop") == torch.device("cpu")


def test_workbook_device_mps_opts_a_mac_in(machine, monkeypatch):
    machine(mps=True)
    monkeypatch.setenv("WORKBOOK_DEVICE", "mps")
    assert config.get_device() == torch.device("mps")


def test_the_full_profile_takes_mps_by_itself(machine, monkeypatch):
    machine(mps=True)
    assert config.get_device("full") == torch.device("mps")
    monkeypatch.setenv("WORKBOOK_PROFILE", "full")
    assert config.get_device() == torch.device("mps")


@pytest.mark.parametrize("profile", ["laptop", "full"])
def test_cuda_is_chosen_by_itself_with_either_profile(machine, profile):
    machine(cuda=True, mps=True)
    assert config.get_device(profile) == torch.device("cuda")


def test_without_a_gpu_the_course_runs_on_the_cpu(machine):
    machine()
    assert config.get_device() == torch.device("cpu") and config.get_device("full") == torch.device("cpu")


def test_workbook_device_cpu_keeps_a_gpu_machine_on_the_cpu(machine, monkeypatch):
    machine(cuda=True, mps=True)
    monkeypatch.setenv("WORKBOOK_DEVICE", "cpu")
    assert config.get_device("full") == torch.device("cpu")


def test_workbook_device_mps_on_a_machine_without_it_says_what_there_is(machine, monkeypatch):
    machine(cuda=False, mps=False)
    monkeypatch.setenv("WORKBOOK_DEVICE", "mps")
    with pytest.raises(ValueError, match=r"no mps device .*available here: cpu"):
        config.get_device()


def threads_in_a_new_process(value: str | None) -> subprocess.CompletedProcess:
    """Import the course in a fresh Python with WORKBOOK_THREADS set to ``value`` and print torch's threads."""
    env = {key: val for key, val in os.environ.items() if key not in ("WORKBOOK_THREADS", "OMP_NUM_THREADS")}
    if value is not None:
        env["WORKBOOK_THREADS"] = value
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-c", "import torch, utils.config; print(torch.get_num_threads())"],
                          cwd=ROOT, env=env, capture_output=True, text=True)


@pytest.mark.parametrize("threads", ["1", "2"])
def test_workbook_threads_reaches_torch_when_the_course_is_imported(threads):
    done = threads_in_a_new_process(threads)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == threads


@pytest.mark.parametrize("value", ["two", "0", "-1", "1.5"])
def test_a_bad_workbook_threads_says_what_to_set(value):
    done = threads_in_a_new_process(value)
    assert done.returncode != 0
    assert f"WORKBOOK_THREADS={value!r} is not a number of threads" in done.stderr
    assert "unset it" in done.stderr


def test_an_unset_workbook_threads_leaves_torch_alone(monkeypatch):
    monkeypatch.delenv("WORKBOOK_THREADS", raising=False)
    assert config.threads_setting() is None
    monkeypatch.setenv("WORKBOOK_THREADS", " 2 ")
    assert config.threads_setting() == 2
