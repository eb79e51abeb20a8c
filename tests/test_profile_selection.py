"""Which cells `make bench` profiles (the config's [profile] table) and which profile
`make snakeviz` serves by default (the report's own: E1-loop of the scalar engine)."""

import pytest

from harness import profiling
from harness.config import load, validate


def test_default_config_profiles_the_report_cells():
    cells = [cell.cell_id for cell in profiling.named_cells(load("configs/default.toml"))]
    assert cells[:2] == ["E1/loop/bobodiff-scalar/n=2000/float64",
                         "E1/loop/torch/n=2000/float64"]
    assert "E1/batch/bobodiff-forward/n=10000000/float64" in cells
    assert "E2/step-b1/bobodiff-scalar/n=600/float64" in cells
    assert any(cell.startswith("E3/jvp/bobodiff-scalar/") for cell in cells)


def test_a_cell_without_size_is_the_largest_the_engine_runs():
    config = validate({"E2": {"sizes": [10, 100, 600], "scalar_max_n": 100},
                       "profile": {"cells": ["E2/step-b1/bobodiff-scalar", "E2/step-b1/torch"]}})
    sizes = [cell.size for cell in profiling.named_cells(config)]
    assert sizes == [100, 600]


def test_a_named_cell_that_is_skipped_or_absent_is_an_error_naming_it():
    skipped = validate({"E2": {"sizes": [600], "scalar_max_n": 100},
                        "profile": {"cells": ["E2/step-b1/bobodiff-scalar/n=600"]}})
    with pytest.raises(ValueError, match=r"n=600' is skipped.*scalar_max_n"):
        profiling.named_cells(skipped)
    absent = validate({"profile": {"cells": ["E2/step-b7/torch"]}})
    with pytest.raises(ValueError, match="'E2/step-b7/torch' is not a cell of this config"):
        profiling.named_cells(absent)


def test_snakeviz_serves_the_scalar_engine_e1_loop_by_default(tmp_path):
    folder = tmp_path / "profiles"
    folder.mkdir()
    for name in ("E1_batch_bobodiff-forward_n10_float64", "E1_loop_bobodiff-reverse_n20_float64",
                 "E1_loop_bobodiff-scalar_n20_float64", "E1_loop_torch_n20_float64"):
        (folder / f"{name}.prof").write_bytes(b"")
    assert profiling.choose_profile(tmp_path, None).name.startswith("E1_loop_bobodiff-scalar_")
    assert profiling.choose_profile(tmp_path, "torch").name.startswith("E1_loop_torch")
    with pytest.raises(FileNotFoundError, match="make bench"):
        profiling.choose_profile(tmp_path / "elsewhere", None)


def test_named_profiling_of_a_config_without_profile_cells_is_a_note(tmp_path, capsys):
    from harness.cli import main

    config = tmp_path / "bare.toml"
    config.write_text('[run]\nengines = ["floor"]\n')
    assert main(["profile", str(config), "--named", "--run", str(tmp_path / "run")]) == 0
    assert "no [profile] cells" in capsys.readouterr().err
