"""Bad inputs of issue 26 in the CLI's own files: what is at `-o` (devices, FIFOs, sockets, links, folders), run
directories of another study, SIGTERM, Typer's usage errors and bad global options.

Each case asserts the exit status, exactly one `error:` line with what it names, and that nothing was lost: the
FIFO is still a FIFO, the link still a link to the same target, the target's bytes the same, the run directory's
files the same. Device nodes are made in the test's folder (a copy of /dev/null or /dev/full by its numbers), so a
regression could only replace that copy; the real /dev/null and /dev/full are checked by the policy first, and the
command runs on them only once the policy has refused them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import REPO, SMALL_CSV, assert_one_line_error, invoke

# -- what is at -o ------------------------------------------------------------------------------------------------


def _fifo(d: Path, name: str) -> None:
    os.mkfifo(d / name)


def _socket(d: Path, name: str) -> None:
    path = d / name
    if len(os.fsencode(path)) > 100:
        pytest.skip("the test folder's path is too long for a unix socket")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    sock.close()  # the entry stays


def _device(major: int, minor: int) -> Callable[[Path, str], None]:
    def make(d: Path, name: str) -> None:
        try:
            os.mknod(d / name, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
        except (PermissionError, OSError) as exc:
            pytest.skip(f"cannot make a device node here: {exc}")

    return make


def _link_to(target: str, dangling: bool = False) -> Callable[[Path, str], None]:
    def make(d: Path, name: str) -> None:
        if target.startswith("/dev/") and not os.path.exists(target):
            pytest.skip(f"{target} is absent")
        if not target.startswith("/") and not dangling:
            (d / target).write_text("my table, not to lose\n")
        os.symlink(target, d / name)

    return make


def _folder(d: Path, name: str) -> None:
    (d / name).mkdir()
    (d / name / "keep.txt").write_text("mine\n")


@dataclass
class OutputCase:
    name: str
    make: Callable[[Path, str], None]
    needle: str
    command: str = "data"  # data: a file output; report: a directory output


OUTPUT_CASES = [
    OutputCase("fifo", _fifo, "is a FIFO, not a regular file"),
    OutputCase("socket", _socket, "is a socket, not a regular file"),
    OutputCase("device-node-null", _device(1, 3), "is a character device"),
    OutputCase("device-node-full", _device(1, 7), "is a character device"),
    OutputCase("link-to-dev-null", _link_to("/dev/null"), "(a link to /dev/null) is a character device"),
    OutputCase("link-to-file", _link_to("target.csv"), "is a symbolic link to"),
    OutputCase("dangling-link", _link_to("nowhere.csv", dangling=True), "is a broken symbolic link (to nowhere.csv)"),
    OutputCase("folder-for-file", _folder, "is a folder, not a file"),
    OutputCase("fifo-for-folder", _fifo, "is a FIFO", command="report"),
    OutputCase("file-for-folder", lambda d, n: (d / n).write_text("notes\n"), "is a file, not a folder",
               command="report"),
]


def _state(path: Path) -> tuple:
    """What is at a path, as far as losing it goes: its kind, a link's target, a file's bytes."""
    info = os.lstat(path)
    kind = stat.S_IFMT(info.st_mode)
    if stat.S_ISLNK(info.st_mode):
        return kind, os.readlink(path)
    if stat.S_ISREG(info.st_mode):
        return kind, hashlib.sha256(path.read_bytes()).hexdigest()
    if stat.S_ISCHR(info.st_mode):
        return kind, info.st_rdev
    return kind, None


def _tree(d: Path) -> dict[str, tuple]:
    return {str(p.relative_to(d)): _state(p) for p in sorted(d.rglob("*"))}


def _argv(command: str, d: Path, output: str) -> list[str]:
    if command == "data":
        (d / "in.csv").write_text(SMALL_CSV)
        return ["data", str(d / "in.csv"), "-o", output]
    (d / "r").mkdir(exist_ok=True)
    (d / "r" / "run.json").write_text('{"profile": "tiny"}\n')
    return ["report", str(d / "r"), "-o", output]


@pytest.mark.parametrize("case", OUTPUT_CASES, ids=[c.name for c in OUTPUT_CASES])
def test_output_kind_is_refused_and_kept(case: OutputCase, tmp_path: Path, monkeypatch) -> None:
    d = tmp_path / "case"
    d.mkdir()
    monkeypatch.chdir(d)
    argv = _argv(case.command, d, str(d / "out"))
    case.make(d, "out")
    before = _tree(d)
    result = invoke(CliRunner(), argv)
    assert result.exit_code == 2, result.output
    assert_one_line_error(result, case.needle)
    assert _tree(d) == before  # the entry, a link's target and every other file as they were; nothing new


@pytest.mark.parametrize("device", ["/dev/null", "/dev/full"])
def test_system_device_is_refused(device: str, tmp_path: Path, monkeypatch) -> None:
    if not os.path.exists(device) or not stat.S_ISCHR(os.stat(device).st_mode):
        pytest.skip(f"{device} is absent")
    from molpeft_cli.data.outputs import OutputError, check_outputs

    with pytest.raises(OutputError, match="is a character device"):  # the policy first, without the command
        check_outputs("data", {"output": device})
    before = os.stat(device)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.csv").write_text(SMALL_CSV)
    result = invoke(CliRunner(), ["data", str(tmp_path / "in.csv"), "-o", device])
    assert result.exit_code == 2, result.output
    assert_one_line_error(result, f"--output {device} is a character device")
    after = os.stat(device)
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev
    assert not os.path.exists(device + ".manifest.json")


def test_atomic_write_follows_a_link(tmp_path: Path) -> None:
    """The last line of defence under the policy: a write to a link replaces its target and keeps the link."""
    from molpeft_cli.data.atomic import atomic_dir, write_text_atomic

    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "t.txt").write_text("old\n")
    os.symlink("real/t.txt", tmp_path / "link.txt")
    write_text_atomic(tmp_path / "link.txt", "new\n")
    assert os.readlink(tmp_path / "link.txt") == "real/t.txt"
    assert (tmp_path / "real" / "t.txt").read_text() == "new\n"
    (tmp_path / "real" / "ck").mkdir()
    (tmp_path / "real" / "ck" / "old.bin").write_text("x")
    os.symlink("real/ck", tmp_path / "ck")
    with atomic_dir(tmp_path / "ck") as tmp:
        (tmp / "new.bin").write_text("y")
    assert os.readlink(tmp_path / "ck") == "real/ck"
    assert sorted(p.name for p in (tmp_path / "real" / "ck").iterdir()) == ["new.bin"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck", "link.txt", "real"]
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == ["ck", "t.txt"]  # no temporaries


def test_atomic_write_refuses_a_fifo(tmp_path: Path) -> None:
    from molpeft_cli.data.atomic import SpecialFileError, write_text_atomic

    os.mkfifo(tmp_path / "f")
    with pytest.raises(SpecialFileError, match="is a FIFO"):
        write_text_atomic(tmp_path / "f", "x")
    assert stat.S_ISFIFO(os.lstat(tmp_path / "f").st_mode) and os.listdir(tmp_path) == ["f"]


# -- stdout that fails: a full device, a closed pipe -----------------------------------------------------------


def _molpeft(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1", "COLUMNS": "1000"}
    return subprocess.Popen([sys.executable, "-m", "molpeft_cli", *args], env=env, stderr=subprocess.PIPE,
                            text=True, **kwargs)


def _error_lines(stderr: str) -> list[str]:
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_stdout_on_a_full_device(tmp_path: Path) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("/dev/full is absent")
    (tmp_path / "in.csv").write_text(SMALL_CSV)
    with open("/dev/full", "wb") as full:  # opened for writing only: the device itself is never replaced
        p = _molpeft("-q", "data", str(tmp_path / "in.csv"), "-o", "-", stdout=full, cwd=tmp_path)
        stderr = p.communicate(timeout=120)[1]
    assert p.returncode == 1, stderr
    lines = _error_lines(stderr)
    assert len(lines) == 1 and "cannot write stdout: No space left on device (ENOSPC)" in lines[0], stderr
    assert sorted(os.listdir(tmp_path)) == ["in.csv"]


def test_stdout_closed_by_its_reader(tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text(SMALL_CSV)
    read, write = os.pipe()
    os.close(read)  # the reader has gone before anything is written
    try:
        p = _molpeft("-q", "data", str(tmp_path / "in.csv"), "-o", "-", stdout=write, cwd=tmp_path)
    finally:
        os.close(write)
    stderr = p.communicate(timeout=120)[1]
    assert p.returncode == 141, stderr
    lines = _error_lines(stderr)
    assert len(lines) == 1 and "stdout was closed" in lines[0] and "broken pipe" in lines[0], stderr
    assert sorted(os.listdir(tmp_path)) == ["in.csv"]


# -- run directories remember their study ----------------------------------------------------------------------


def _run_json(profile: str = "quick", **settings) -> str:
    from molpeft_cli.pipeline.study import StudyConfig, plan_study

    return json.dumps(plan_study(StudyConfig(output="R", profile=profile, **settings)).describe(), indent=2) + "\n"


def _study(d: Path, text: str) -> Path:
    run = d / "R"
    (run / "cells" / "c1").mkdir(parents=True)
    (run / "run.json").write_text(text)
    (run / "cells" / "c1" / "weights.bin").write_bytes(b"\x01" * 64)
    return run


def _files(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".molpeft.lock"}


def _pool_csv(d: Path) -> Path:
    (d / "pool.csv").write_text(SMALL_CSV.replace("exp", "label"))
    return d / "pool.csv"


def _data_csv(d: Path) -> Path:
    (d / "other.csv").write_text(SMALL_CSV)
    return d / "other.csv"


@dataclass
class RunCase:
    name: str
    recorded: Callable[[Path], str]  # R's run.json
    args: Callable[[Path], list[str]]  # this run's options
    needle: str | None  # None: the same study, the dry run goes ahead


RUN_CASES = [
    RunCase("other-profile", lambda d: _run_json("quick"), lambda d: ["--profile", "tiny"],
            "holds a run of another study (profile quick, not tiny)"),
    RunCase("other-pool", lambda d: _run_json("tiny"), lambda d: ["--profile", "tiny", "--pool", str(_pool_csv(d))],
            "pool carved, 40 molecules, not file"),
    RunCase("other-dataset", lambda d: _run_json("tiny"),
            lambda d: ["--profile", "tiny", "--data", str(_data_csv(d))], "(dataset lipophilicity, not "),
    RunCase("unreadable-run-json", lambda d: '{"profile": "tiny", ', lambda d: ["--profile", "tiny"],
            "holds a run whose run.json cannot be read"),
    RunCase("quick-then-full", lambda d: _run_json("quick"), lambda d: ["--profile", "full"], None),
    RunCase("full-then-quick", lambda d: _run_json("full"), lambda d: ["--profile", "quick"], None),
    RunCase("narrowed-grid", lambda d: _run_json("tiny"),
            lambda d: ["--profile", "tiny", "--seeds", "3", "--adapters", "full", "--selections", "random"], None),
]


@pytest.mark.parametrize("case", RUN_CASES, ids=[c.name for c in RUN_CASES])
def test_run_directory_identity(case: RunCase, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    run = _study(tmp_path, case.recorded(tmp_path))
    before = _files(run)
    result = invoke(CliRunner(), ["run", "-o", str(run), "--dry-run", *case.args(tmp_path)])
    if case.needle is None:
        assert result.exit_code == 0, result.output
        assert "error:" not in result.stderr
    else:
        assert result.exit_code == 2, result.output
        assert_one_line_error(result, case.needle)
        assert "--overwrite" in result.stderr
    assert _files(run) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("R")) == ["R"]


def test_run_overwrite_moves_the_old_study_aside(tmp_path: Path, monkeypatch) -> None:
    import molpeft_cli.pipeline.study as study

    monkeypatch.chdir(tmp_path)
    run = _study(tmp_path, _run_json("quick"))
    before = _files(run)
    dry = invoke(CliRunner(), ["run", "-o", str(run), "--profile", "tiny", "--overwrite", "--dry-run"])
    assert dry.exit_code == 0 and "without --dry-run it is moved aside" in dry.stderr, dry.output
    assert _files(run) == before
    started = []
    monkeypatch.setattr(study, "run_plan", lambda plan, run_dir, *a, **k: started.append(sorted(
        os.listdir(run_dir))) or study.StudyResult(run_dir, plan))
    result = invoke(CliRunner(), ["run", "-o", str(run), "--profile", "tiny", "--overwrite"])
    assert result.exit_code == 0, result.output
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("R.replaced-")]
    assert len(aside) == 1 and _files(aside[0]) == before  # the old study, whole, beside the new one
    assert started == [[".molpeft.lock"]]  # the new run started in an empty folder
    assert "moved aside to" in result.stderr


# -- signals -----------------------------------------------------------------------------------------------------


def _catches_sigterm(pid: int) -> bool:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigCgt:"):
                return bool(int(line.split()[1], 16) >> (signal.SIGTERM - 1) & 1)
    return False


def _children(pid: int) -> list[int]:
    with contextlib.suppress(OSError):
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return []


def _alive(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0] != "Z"
    return False


def _temporaries(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.rglob(".*") if p.name != ".molpeft.lock")


@pytest.mark.parametrize("jobs", [1, 2])
def test_sigterm_stops_a_run(jobs: int, tmp_path: Path) -> None:
    if not Path("/proc/self/status").exists():
        pytest.skip("needs /proc to see when the handler is installed")
    p = _molpeft("--threads", "1", "run", "--profile", "tiny", "-o", "R", "--jobs", str(jobs), cwd=tmp_path,
                 stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    try:
        # once the handler is set (and, with --jobs, a worker runs), plus a moment into the first step
        while not _catches_sigterm(p.pid) or (jobs > 1 and len(_children(p.pid)) < 2):
            assert p.poll() is None and time.monotonic() < deadline, p.communicate()[1]
            time.sleep(0.05)
        time.sleep(1.0)
        workers = _children(p.pid)
        p.send_signal(signal.SIGTERM)
        stderr = p.communicate(timeout=60)[1]
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 143, stderr
    lines = _error_lines(stderr)
    assert lines == ["error: terminated (SIGTERM); no partial output was written"], stderr
    run = tmp_path / "R"
    assert _temporaries(run) == []
    history = [json.loads(line) for line in (run / "run_history.jsonl").read_text().splitlines()]
    assert history[-1]["status"] == "interrupted"
    for manifest in run.rglob("*.manifest.json"):  # every output that exists is whole
        assert manifest.with_name(manifest.name.removesuffix(".manifest.json")).exists(), manifest
    time.sleep(0.5)
    spawned = [pid for pid in workers if "spawn_main" in _cmdline(pid)]
    assert not [pid for pid in spawned if _alive(pid)], "worker processes still running"


def _cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    return ""


# -- Typer usage errors and global options -------------------------------------------------------------------------

USAGE_CASES = [
    ("unknown-option", ["data", "x.csv", "--bogus"], "No such option: --bogus. Try 'molpeft data -h' for help."),
    ("missing-argument", ["data"], "Missing argument 'SOURCE'. Try 'molpeft data -h' for help."),
    ("bad-type", ["run", "--jobs", "many"], "Invalid value for '--jobs'"),
    ("out-of-range", ["run", "--jobs", "0"], "Invalid value for '--jobs'"),
    ("unknown-command", ["frobnicate"], "No such command 'frobnicate'. Try 'molpeft -h' for help."),
    ("unknown-global-option", ["--bogus", "data"], "Try 'molpeft -h' for help."),
    ("threads-zero", ["--threads", "0", "data", "x.csv"], "Invalid value for '--threads'"),
    ("bad-device", ["--device", "gpu", "data", "x.csv", "-o", "x.parquet"], "unknown --device 'gpu'"),
    ("negative-seed", ["--seed", "-3", "data", "x.csv", "-o", "x.parquet"], "--seed must be 0 or more, got -3"),
]


@pytest.mark.parametrize("argv,needle", [c[1:] for c in USAGE_CASES], ids=[c[0] for c in USAGE_CASES])
def test_usage_error_is_one_line(argv: list[str], needle: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke(CliRunner(), argv)
    assert result.exit_code == 2, result.output
    assert_one_line_error(result, needle)
    assert result.stderr.count("\n") == 1, result.stderr  # no usage line, no panel: the one line only
    assert list(tmp_path.iterdir()) == []
