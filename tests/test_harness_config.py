"""Config validation: bad configs are rejected before anything runs, naming file and key."""

from pathlib import Path

import pytest

from harness import config as configuration
from harness.cells import plan
from harness.cli import main
from harness.engines import registry as engine_registry

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", ["smoke.toml", "default.toml", "report.toml"])
def test_shipped_configs_are_valid(name):
    config = configuration.load(CONFIGS / name)
    assert plan(config), f"{name} plans no cell"


def test_default_config_matches_the_issue():
    config = configuration.load(CONFIGS / "default.toml")
    assert config["E2"]["sizes"] == [1, 10, 100, 300, 600, 1000]
    assert config["E3"]["sizes"] == [1, 10, 100, 300, 600, 1000]
    assert config["E1"]["batch_points"] == 10_000_000
    assert {"floor", "torch", "bobodiff-forward", "bobodiff-reverse",
            "bobodiff-scalar"} <= set(config["run"]["engines"])


@pytest.mark.parametrize("text, fragments", [
    ("[run]\nrepeatz = 3\n", ["bad.toml", "[run]", "'repeatz'", "repeats"]),
    ("[run]\nengines = ['torch', 'tensorflow']\n", ["engines", "'tensorflow'", "floor"]),
    ("[E9]\nsizes = [1]\n", ["'E9'", "E1, E2, E3"]),
    ("[E2]\nsizes = [1, 5000]\n", ["[E2] sizes", "5000", "maximum 4000"]),
    ("[E2]\nsizes = 'big'\n", ["[E2] sizes", "list"]),
    ("[run]\nrepeats = 'five'\n", ["repeats", "expected int", "'five'"]),
    ("[run]\nrepeats = 2.5\n", ["repeats", "expected int"]),
    ("[run]\ndtype = 'float16'\n", ["dtype", "float16", "float64, float32"]),
    ("[E1]\nvariants = ['loop', 'scan']\n", ["[E1] variants", "'scan'", "loop, batch"]),
    ("[E1]\nloop_calls = 0\n", ["loop_calls", "below the minimum"]),
    ("[run]\nthreads = true\n", ["threads", "expected int"]),
    ("run = 3\n", ["[run] must be a table"]),
])
def test_bad_configs_are_rejected_with_file_key_and_allowed_values(tmp_path, text, fragments):
    with pytest.raises(configuration.ConfigError) as error:
        configuration.load(write(tmp_path, text))
    for fragment in fragments:
        assert fragment in str(error.value)


def test_every_problem_is_reported_at_once(tmp_path):
    with pytest.raises(configuration.ConfigError) as error:
        configuration.load(write(tmp_path, "[run]\nrepeats = 0\nfoo = 1\n[E3]\nsizes = [0]\n"))
    message = str(error.value)
    assert "repeats" in message and "'foo'" in message and "[E3] sizes" in message


def test_invalid_toml_and_missing_file(tmp_path):
    with pytest.raises(configuration.ConfigError, match="not valid TOML"):
        configuration.load(write(tmp_path, "[run\n"))
    with pytest.raises(configuration.ConfigError, match="no such config file"):
        configuration.load(tmp_path / "absent.toml")


def test_cli_rejects_bad_config_and_unknown_filters_before_running(tmp_path, capsys):
    bad = write(tmp_path, "[E2]\nbatch = 64\n")
    assert main(["run", str(bad), "--out", str(tmp_path / "out")]) == 2
    assert "unknown key 'batch'" in capsys.readouterr().err
    assert main(["run", str(CONFIGS / "smoke.toml"), "--only", "E7",
                 "--out", str(tmp_path / "out")]) == 2
    assert "--only: unknown experiment(s) E7" in capsys.readouterr().err
    assert main(["run", str(CONFIGS / "smoke.toml"), "--engines", "tf",
                 "--out", str(tmp_path / "out")]) == 2
    assert "--engines: unknown engine(s) tf" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_restrict_and_plan():
    config = configuration.load(CONFIGS / "smoke.toml")
    only = configuration.restrict(config, ["E3"], ["floor", "torch"])
    cells = plan(only)
    assert {cell.experiment for cell in cells} == {"E3"}
    assert {cell.engine for cell in cells} == {"floor", "torch"}
    assert len(cells) == len({cell.cell_id for cell in cells})


def test_the_faulty_engines_leave_with_their_variable(monkeypatch):
    monkeypatch.setenv("BOBODIFF_HARNESS_TEST_ENGINES", "1")
    assert "faulty-wrong" in engine_registry()
    monkeypatch.delenv("BOBODIFF_HARNESS_TEST_ENGINES")
    assert "faulty-wrong" not in engine_registry()  # was kept: the cached list grew


def test_faulty_engines_exist_only_when_enabled(monkeypatch, tmp_path):
    monkeypatch.delenv("BOBODIFF_HARNESS_TEST_ENGINES", raising=False)
    with pytest.raises(configuration.ConfigError, match="faulty-wrong"):
        configuration.load(write(tmp_path, "[run]\nengines = ['faulty-wrong']\n"))
    monkeypatch.setenv("BOBODIFF_HARNESS_TEST_ENGINES", "1")
    assert configuration.load(write(tmp_path, "[run]\nengines = ['faulty-wrong']\n"))
