"""`molpeft report` through the CLI: a run directory in, a report folder out; bad input is one error line."""

import json

from tests.conftest import assert_one_line_error, invoke


def test_report_command_writes_the_report(runner, three_seed_run, tmp_path):
    out = tmp_path / "report"
    result = invoke(runner, ["--seed", "4", "report", str(three_seed_run), "-o", str(out), "--rf-trees", "30",
                             "--resamples", "500", "--no-chemprop"])
    assert result.exit_code == 0, result.output
    assert (out / "report.md").exists() and (out / "report.html").exists()
    assert "report written to" in result.stderr and result.stdout == ""
    params = json.loads((out / "manifest.json").read_text())["params"]
    assert params["seed"] == 4 and params["n_resamples"] == 500 and params["forest"]["n_trees"] == 30


def test_report_without_eval_files_is_one_error_line(runner, tmp_path):
    run = tmp_path / "run"
    (run / "data").mkdir(parents=True)
    (run / "run.json").write_text("{}")
    result = invoke(runner, ["report", str(run), "-o", str(tmp_path / "report")])
    assert_one_line_error(result, "no evaluation results")
    assert not (tmp_path / "report").exists()


def test_report_on_a_missing_run_dir_and_bad_options(runner, tmp_path):
    assert_one_line_error(invoke(runner, ["report", str(tmp_path / "nope"), "-o", str(tmp_path / "r")]),
                          "run directory not found")
    (tmp_path / "run" / "eval").mkdir(parents=True)
    assert_one_line_error(invoke(runner, ["report", str(tmp_path / "run"), "-o", str(tmp_path / "r"),
                                          "--resamples", "10"]), "at least 100")
    assert_one_line_error(invoke(runner, ["report", str(tmp_path / "run"), "-o", str(tmp_path / "r"),
                                          "--rf-trees", "0"]), "--rf-trees must be at least 1")
