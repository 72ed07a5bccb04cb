"""The report on synthetic runs with known test MSE: numbers, intervals, missing cells, 1 seed, HTML, cache."""

import base64
import json
import re

import numpy as np
import polars as pl
import pytest

from molpeft_cli.errors import MolpeftError
from molpeft_cli.report import ForestConfig, ReportOptions, build_report
from molpeft_cli.report import baseline as baseline_module
from molpeft_cli.report.collect import collect_run
from molpeft_cli.report.coverage import missing_cells
from tests.report.run_factory import CELL_MSE, make_run_dir

FIGURES = {"mse_by_selection", "tradeoff", "parity", "finetuning_route", "selection_overlap", "influence_scores"}


def _fast(trees: int) -> ReportOptions:
    return ReportOptions(forest=ForestConfig(n_trees=trees), chemprop=False)


def section_text(markdown: str, title: str) -> str:
    """The Markdown of one `## title` section."""
    return markdown.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def md_row(markdown: str, first_cell: str, section: str | None = None) -> list[str]:
    """The cells of the first table row starting with `first_cell`: in `section`, or else after the headline."""
    text = section_text(markdown, section) if section else markdown.split("\n## What was run\n", 1)[1]
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no table row starting with {first_cell!r}")


def expected(adapter: str, selection: str, variant: str = "two-stage") -> str:
    values = [v for v in CELL_MSE[(variant, adapter, selection)] if v is not None]
    sd = f"{np.std(values, ddof=1):.3f}" if len(values) > 1 else "n/a"
    return f"{np.mean(values):.3f} ± {sd}"


def test_report_folder_has_every_output(three_seed_report):
    names = {p.name for p in three_seed_report.iterdir()}
    assert {"report.md", "headline.md", "report.html", "figures", "manifest.json", "cells.parquet",
            "differences.parquet", "ratios.parquet"} <= names
    assert {p.stem for p in (three_seed_report / "figures").glob("*.png")} == FIGURES
    manifest = json.loads((three_seed_report / "manifest.json").read_text())
    assert manifest["command"] == "report" and manifest["seeds"] == [0, 1, 2]
    assert manifest["params"]["n_resamples"] == 2000 and "eval" in manifest["inputs"]
    assert not [p for p in three_seed_report.parent.iterdir() if p.name.endswith(".tmp")]  # atomic: no leftovers


def test_matrix_has_the_right_means_and_marks_the_best(three_seed_report):
    markdown = (three_seed_report / "report.md").read_text()
    assert md_row(markdown, "adapter \\ selection")[1:] == ["none", "all", "random", "maxmin", "influence"]
    lora = md_row(markdown, "lora")
    assert lora[1] == expected("lora", "none") == "0.700 ± 0.200"
    assert lora[3] == f"**{expected('lora', 'random')}**" and lora[2] == lora[4] == "–"
    full = md_row(markdown, "full")
    assert full[5] == "**0.250 ± 0.000**" and full[1] == expected("full", "none")
    assert md_row(markdown, "bitfit")[1] == "**0.850 ± 0.071 [2 seeds]**"
    assert md_row(markdown, "RF baseline (30 trees)")[1] != "n/a"


def test_non_converged_cells_are_marked_and_recorded(three_seed_report):
    markdown = (three_seed_report / "report.md").read_text()
    assert md_row(markdown, "full")[4] == f"{expected('full', 'maxmin')} ‡ 1/3"
    assert md_row(markdown, "full")[1] == expected("full", "none")  # converged: no mark
    assert "‡: training did not converge" in markdown
    assert "Not converged (marked ‡ in the matrix): two-stage/full/maxmin seed 1." in markdown
    cells = pl.read_parquet(three_seed_report / "cells.parquet")
    assert cells.height == pl.read_parquet(three_seed_report / "summary.parquet")["n_seeds"].sum()
    assert cells.select("variant", "adapter", "selection", "seed").is_unique().all()
    failed = cells.filter(~pl.col("converged"))
    assert failed.select("adapter", "selection", "seed").rows() == [("full", "maxmin", 1)]


def test_clearly_better_cell_excludes_zero_and_equal_cell_includes_it(three_seed_report):
    differences = pl.read_parquet(three_seed_report / "differences.parquet")
    rows = {(r["adapter"], r["selection"]): r for r in differences.iter_rows(named=True)}
    better = rows[("full", "influence")]
    assert better["delta_mse"] == pytest.approx(0.25 - 1.0) and better["ci_high"] < 0 and better["excludes_zero"]
    equal = rows[("full", "random")]  # the same errors as `none`, shuffled over molecules
    assert equal["delta_mse"] == pytest.approx(0.0, abs=1e-12)
    assert equal["ci_low"] < 0 < equal["ci_high"] and not equal["excludes_zero"]
    assert equal["n_seeds"] == 3 and equal["n_molecules"] == 30
    markdown = (three_seed_report / "report.md").read_text()
    stats_rows = [line for line in markdown.splitlines() if line.startswith("| full | influence |")]
    assert len(stats_rows) == 1 and "**[" in stats_rows[0] and "better" in stats_rows[0]


def test_headline_gives_ratios_to_full_with_intervals(three_seed_report):
    ratios = pl.read_parquet(three_seed_report / "ratios.parquet")
    rows = {(r["comparison"], r["adapter"], r["selection"]): r for r in ratios.iter_rows(named=True)}
    lora = rows[("same selection", "lora", "none")]  # 0.700 over 1.000, both means over seeds 0-2
    assert lora["ratio"] == pytest.approx(0.7) and lora["full_selection"] == "none" and lora["n_seeds"] == 3
    assert lora["ci_low"] < 0.7 < lora["ci_high"]
    bitfit = rows[("same selection", "bitfit", "none")]  # seed 2 missing: paired on seeds 0 and 1 only
    assert bitfit["ratio"] == pytest.approx(0.85 / 1.05) and bitfit["n_seeds"] == 2
    best = rows[("best cells", "lora", "random")]  # lora's best (0.600) over full's best, influence (0.250)
    assert best["ratio"] == pytest.approx(0.6 / 0.25) and best["full_selection"] == "influence"
    assert best["ci_low"] > 1
    assert not ratios.filter(pl.col("adapter") == "full").height

    markdown = (three_seed_report / "report.md").read_text()
    assert markdown.index("## Headline") < markdown.index("## What was run")
    row = md_row(markdown, "lora", section="Headline")
    assert row[2] == expected("lora", "none") and row[3] == f"{expected('lora', 'random')} (random)"
    assert row[4] == f"0.70 [{lora['ci_low']:.2f}, {lora['ci_high']:.2f}]"
    assert row[5] == f"2.40 [{best['ci_low']:.2f}, {best['ci_high']:.2f}]"
    assert md_row(markdown, "full", section="Headline")[4:] == ["1 (reference)", "1 (reference)"]
    assert md_row(markdown, "bitfit", section="Headline")[2] == f"{expected('bitfit', 'none')} [2 of 3 seeds]"
    headline = section_text(markdown, "Headline")
    assert "of 6 compared: full/influence -0.750 [" in headline  # the one selection that beats none, after Holm
    assert "Holm-adjusted p < 0.05" in headline and "(Holm p " in headline
    assert "Two-stage (MLM, then supervised) minus direct" in headline and "ΔMSE -0.300" in headline
    assert "random forest on Morgan counts" in headline and "the best cell here, full/influence, 0.250" in headline

    alone = (three_seed_report / "headline.md").read_text()
    assert alone.count("\n## ") == 1 and section_text(alone, "Headline") == headline


def test_missing_cells_are_listed(three_seed_report):
    markdown = (three_seed_report / "report.md").read_text()
    assert "Missing cells (7)" in markdown
    assert "- two-stage lora / maxmin: all seeds" in markdown
    assert "- two-stage bitfit / none: seed 2" in markdown


def test_direct_versus_two_stage_is_compared_over_seeds(three_seed_report):
    markdown = (three_seed_report / "report.md").read_text()
    assert md_row(markdown, "mean ± sd")[1:3] == [expected("full", "none", "direct"), expected("full", "none")]
    assert "Two-stage minus direct ΔMSE -0.3000" in markdown


def test_html_is_self_contained_with_embedded_figures(three_seed_report):
    html = (three_seed_report / "report.html").read_text()
    assert "http://" not in html and "https://" not in html
    assert not re.search(r"""(src|href)=["'](?!data:)""", html)  # nothing loaded from outside the page
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) == len(FIGURES)
    assert all(base64.b64decode(image)[:8] == b"\x89PNG\r\n\x1a\n" for image in images)
    assert "<strong>0.250 ± 0.000</strong>" in html


def test_one_seed_run_reports_no_spread(one_seed_report):
    markdown = (one_seed_report / "report.md").read_text()
    assert "one seed gives no spread" in markdown
    assert md_row(markdown, "lora")[1] == "0.700 ± n/a"  # seed 1's MSE
    assert "With one seed the interval covers test-molecule sampling only" in markdown
    differences = pl.read_parquet(one_seed_report / "differences.parquet")
    assert differences.filter(pl.col("selection") == "influence")["n_seeds"].to_list() == [1, 1]


def test_test_split_as_influence_target_is_flagged(tmp_path):
    run = make_run_dir(tmp_path / "run", seeds=(0, 1), test_target=True)
    report = build_report(run, tmp_path / "report", ReportOptions(baseline=False, chemprop=False))
    markdown = (report / "report.md").read_text()
    assert "> **WARNING: THE TEST SPLIT WAS USED AS AN INFLUENCE TARGET" in markdown
    assert "influence-s0.parquet.manifest.json: params.target" in markdown
    assert md_row(markdown, "adapter \\ selection")[-1] == "influence †"
    assert '<div class="alert">WARNING' in (report / "report.html").read_text()
    assert "switched off" in markdown


def test_baseline_is_cached_in_the_run_directory(three_seed_run, three_seed_report, tmp_path, monkeypatch):
    cached = sorted(p.name for p in (three_seed_run / "baseline").iterdir())
    assert "rf-s2.metrics.parquet" in cached and "rf-s2.predictions.parquet" in cached
    calls = []
    original = baseline_module.fit_forest
    monkeypatch.setattr(baseline_module, "fit_forest", lambda *a: calls.append(a[1]) or original(*a))
    again = build_report(three_seed_run, tmp_path / "again", _fast(30))
    assert calls == []
    build_report(three_seed_run, again, _fast(30))  # replaces its own report
    assert calls == [] and (again / "report.html").exists()
    first, second = ((r / "report.md").read_text() for r in (three_seed_report, again))
    assert md_row(first, "RF baseline (30 trees)") == md_row(second, "RF baseline (30 trees)")
    build_report(three_seed_run, tmp_path / "other", _fast(5))
    assert calls == [0, 1, 2]  # other settings: the cache does not apply


def test_report_tolerates_a_bare_run_and_notes_what_it_lacks(three_seed_run, tmp_path):
    bare = tmp_path / "bare"
    (bare / "eval").mkdir(parents=True)
    for path in (three_seed_run / "eval").glob("two-stage-lora-*-s0.*.parquet"):
        (bare / "eval" / path.name).write_bytes(path.read_bytes())
    (bare / "eval" / "two-stage-lora-none-s0.predictions.parquet").unlink()
    markdown = (build_report(bare, tmp_path / "report") / "report.md").read_text()
    assert "No readable run.json" in markdown and "no random-forest baseline" in markdown
    assert "no test predictions (no interval or parity plot) for: two-stage lora / none seed 0" in markdown
    assert md_row(markdown, "lora")[1] == "0.500 ± n/a"  # from the metrics file
    assert md_row(markdown, "lora")[2] != "n/a"
    assert "| lora | random | n/a | n/a | n/a | n/a | 0 | 0 | n/a |" in markdown


def test_output_folder_guards(three_seed_run, tmp_path):
    with pytest.raises(MolpeftError, match="would replace the run directory"):
        build_report(three_seed_run, three_seed_run)
    with pytest.raises(MolpeftError, match="would replace the run directory"):
        build_report(three_seed_run, three_seed_run.parent)
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("keep me")
    (precious / "report.md").write_text("someone else's report")
    with pytest.raises(MolpeftError, match="holds no earlier report"):
        build_report(three_seed_run, precious)
    assert (precious / "thesis.tex").read_text() == "keep me"


def test_run_without_eval_files_is_a_user_error(tmp_path):
    (tmp_path / "run" / "eval").mkdir(parents=True)
    with pytest.raises(MolpeftError, match="no evaluation results"):
        build_report(tmp_path / "run", tmp_path / "report")
    with pytest.raises(MolpeftError, match="run directory not found"):
        build_report(tmp_path / "nowhere", tmp_path / "report")
    assert not (tmp_path / "report").exists()


@pytest.mark.parametrize(("model", "listed"), [("molformer-mini", True), ("(trained from scratch)", False)])
def test_direct_cell_is_expected_only_from_a_pretrained_model(tmp_path, model, listed):
    run = make_run_dir(tmp_path / "run", seeds=(0,))
    for path in (run / "eval").glob("direct-*"):
        path.unlink()
    info = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**info, "model": model}))
    missing = missing_cells(collect_run(run))
    assert ("direct full / none: all seeds" in missing) is listed
    assert "two-stage lora / maxmin: all seeds" in missing


def test_chemprop_baseline_sits_beside_the_forest(three_seed_run, tmp_path):
    pytest.importorskip("chemprop")
    from molpeft_cli.report.chemprop_baseline import ChempropConfig
    from molpeft_cli.training.metrics import regression_metrics

    options = ReportOptions(forest=ForestConfig(n_trees=30), chemprop_config=ChempropConfig(epochs=2))
    report = build_report(three_seed_run, tmp_path / "report", options)
    markdown = (report / "report.md").read_text()
    row = md_row(markdown, "chemprop D-MPNN (2 epochs)")
    assert row[1] != "" and md_row(markdown, "RF baseline (30 trees)")[1] != ""
    assert "chemprop baseline: chemprop v2 D-MPNN" in markdown
    for seed in (0, 1, 2):
        metrics = pl.read_parquet(three_seed_run / "baseline" / f"chemprop-s{seed}.metrics.parquet")
        predictions = pl.read_parquet(three_seed_run / "baseline" / f"chemprop-s{seed}.predictions.parquet")
        split = pl.read_parquet(three_seed_run / "data" / "split.parquet").filter(pl.col("split") == "test")
        assert predictions["mol_id"].to_list() == split["mol_id"].to_list()  # the same test molecules
        reference = regression_metrics(predictions["label"].to_numpy(), predictions["prediction"].to_numpy())
        assert metrics["mse"][0] == pytest.approx(reference["mse"])
        assert metrics["mse"][0] == pytest.approx(np.mean((predictions["prediction"] - split["label"]).to_numpy() ** 2))


def test_chemprop_missing_is_a_note_not_a_failure(three_seed_run, tmp_path, monkeypatch):
    import molpeft_cli.report.chemprop_baseline as chemprop_module

    monkeypatch.setattr(chemprop_module, "chemprop_available", lambda: False)
    report = build_report(three_seed_run, tmp_path / "report", ReportOptions(forest=ForestConfig(n_trees=30)))
    markdown = (report / "report.md").read_text()
    assert "chemprop is not installed, so no D-MPNN baseline" in markdown and "chemprop D-MPNN (" not in markdown


def test_the_header_says_where_the_cells_were_trained(three_seed_run, tmp_path):
    """A study put together from two machines shows both (from the cells' finetune manifests)."""
    import shutil

    from molpeft_cli.report.collect import training_environments

    run = tmp_path / "run"
    shutil.copytree(three_seed_run, run)
    for name, device, torch in (("two-stage-full-none-s0", None, "2.13.0+cpu"),
                                ("two-stage-full-none-s1", "cuda", "2.11.0+cu130"),
                                ("two-stage-lora-none-s1", "cuda", "2.11.0+cu130")):
        (run / "cells" / name).mkdir(parents=True)
        argv = ["molpeft", "--threads", "1", *(["--device", device] if device else []), "finetune", "split.parquet"]
        (run / "cells" / name / "manifest.json").write_text(json.dumps(
            {"command": "finetune", "argv": argv, "versions": {"torch": torch}}))
    (run / "cells" / "broken").mkdir()
    (run / "cells" / "broken" / "manifest.json").write_text("{not json")
    assert training_environments(run) == {"--device auto, torch 2.13.0+cpu": 1, "--device cuda, torch 2.11.0+cu130": 2}
    build_report(run, tmp_path / "report", _fast(10))
    row = md_row((tmp_path / "report" / "report.md").read_text(), "fine-tuned with", section="What was run")
    assert row[1] == "--device auto, torch 2.13.0+cpu (1 run); --device cuda, torch 2.11.0+cu130 (2 runs)"
