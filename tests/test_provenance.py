"""Where a result came from: the commit of the code (also from a copy without .git) and the accelerator."""

from __future__ import annotations

import platform

import torch

from uwe.eval.report import accelerator, code_version, cpu_model, library_versions


def test_a_copy_without_git_names_its_commit_only_through_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("UWE_CODE_COMMIT", raising=False)
    assert code_version(tmp_path) == {"commit": None}
    monkeypatch.setenv("UWE_CODE_COMMIT", "a20319c")
    assert code_version(tmp_path) == {"commit": "a20319c", "from": "UWE_CODE_COMMIT"}


def test_a_checkout_reads_its_own_commit_whatever_the_environment_says(monkeypatch):
    monkeypatch.setenv("UWE_CODE_COMMIT", "not-this")
    commit = code_version()["commit"]
    assert commit != "not-this" and len(commit) == 40


def test_results_name_the_accelerator(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert accelerator().startswith("cpu (")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i: "NVIDIA H200")
    assert library_versions()["accelerator"] == "NVIDIA H200"


def test_a_cpu_is_named_by_its_model(tmp_path):
    """bf16 is native on one x86_64 and emulated on another: the CPU's model name tells which one ran."""
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nflags\t: fpu\n")
    assert cpu_model(info) == "AMD EPYC 7B13"
    assert cpu_model(tmp_path / "missing") == (platform.processor() or platform.machine())
