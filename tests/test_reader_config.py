"""The config reader: YAML (Lightning, W&B, MLflow experiment meta), TOML, INI."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest
import yaml

from traindx.ingest import config
from traindx.ingest.part import ReadError, Source

DATA = Path(__file__).parent / "data" / "structured"


def read(path: Path) -> config.Part:
    return config.read(Source(path, path.name, path.stat().st_size))


def assert_lines_name_keys(path: Path, part: config.Part) -> None:
    lines = path.read_text().splitlines()
    for key, cv in part.config.items():
        leaf = key.rsplit(".", 1)[-1]
        assert cv.line is not None, key
        assert leaf in lines[cv.line - 1] or "value:" in lines[cv.line - 1], (key, cv.line)


def test_lightning_hparams_yaml(corpus: Path) -> None:
    path = corpus / "16-lightning-csv-slm-resume-loss-rise" / "lightning_logs" / "version_5" / "hparams.yaml"
    part = read(path)
    assert part.config["num_epochs"].value == 20
    assert part.config["num_epochs"].line == 5
    assert part.config["use_experimental"].value is True
    assert_lines_name_keys(path, part)
    fixture = read(DATA / "lightning" / "hparams.yaml")
    assert fixture.config["lr"].value == 0.05


def test_wandb_config_unwraps_values(corpus: Path) -> None:
    path = corpus / "10-wandb-nanogpt-enwik-healthy" / "run-20240215_012725-vgpqdf1r" / "files" / "config.yaml"
    part = read(path)
    assert part.format == "W&B config.yaml"
    assert part.config["learning_rate"].value == 0.001
    assert part.config["dropout"].value == 0.2
    lines = path.read_text().splitlines()
    assert lines[part.config["dropout"].line - 1].strip() == "value: 0.2"
    assert not any(k.startswith(("_wandb", "wandb_version")) for k in part.config)


def test_wandb_nested_value(tmp_path: Path) -> None:
    p = tmp_path / "config.yaml"
    p.write_text(yaml.safe_dump({"wandb_version": 1, "optim": {"desc": None, "value": {"lr": 0.1, "betas": [0.9, 0.99]}}}, sort_keys=False))
    part = read(p)
    assert part.config["optim.lr"].value == 0.1
    assert part.config["optim.betas"].value == [0.9, 0.99]
    assert "lr:" in p.read_text().splitlines()[part.config["optim.lr"].line - 1]


def test_mlflow_experiment_meta_is_not_a_run(corpus: Path) -> None:
    path = corpus / "19-mlflow-skorch-selfatt-resnet-spike-collapse" / "mlruns" / "411893921889545428" / "meta.yaml"
    part = read(path)
    assert part.format == "MLflow experiment meta.yaml"
    assert {k: v.value for k, v in part.config.items()} == {
        "mlflow.experiment.name": "selfatt_original_resnet20",
        "mlflow.experiment.id": "411893921889545428",
    }


def test_nested_yaml_flattens_with_lines(tmp_path: Path) -> None:
    p = tmp_path / "config.yaml"
    p.write_text("model:\n  n_layer: 12\n  attn:\n    heads: 8\noptimizer:\n  lr: 3.0e-4\n  betas: [0.9, 0.95]\non: true\n")
    part = read(p)
    assert part.config["model.attn.heads"].value == 8 and part.config["model.attn.heads"].line == 4
    assert part.config["optimizer.betas"].value == [0.9, 0.95]
    assert part.config["optimizer.lr"].line == 6
    assert part.config["True"].line is None or part.config["True"].line == 8


def test_python_tags_are_read_as_plain_data(tmp_path: Path) -> None:
    p = tmp_path / "hparams.yaml"
    p.write_text("args: !!python/object:argparse.Namespace\n  lr: 0.01\n  batch_size: 32\nfn: !!python/name:os.system ''\n")
    with pytest.raises(yaml.constructor.ConstructorError):
        yaml.safe_load(p.read_text())
    part = read(p)
    assert part.config["args.lr"].value == 0.01
    assert part.config["args.lr"].line == 2
    assert "Python-specific tags" in part.issues[0].message


def test_multi_document_yaml_reads_the_first(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("a: 1\n---\na: 2\nb: 3\n")
    part = read(p)
    assert part.config["a"].value == 1 and "b" not in part.config
    assert "several documents" in part.issues[0].message


def test_non_mapping_yaml_is_an_empty_part(tmp_path: Path) -> None:
    p = tmp_path / "list.yaml"
    p.write_text("- a\n- b\n")
    part = read(p)
    assert part.is_empty and "not a mapping" in part.issues[0].message


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("c.yaml", "a: [1, 2\nb: 3\n", "invalid YAML at line"),
        ("c.yaml", "", "empty"),
        ("c.yaml", "\x00\x01\x02\x03" * 64, "binary"),
        ("c.toml", "[a\nb = 1\n", "invalid TOML"),
        ("c.ini", "[s]\nkey = 1\n[s]\n[[bad\n", "invalid INI"),
    ],
)
def test_unreadable_configs(tmp_path: Path, name: str, content: str, reason: str) -> None:
    p = tmp_path / name
    p.write_text(content, encoding="latin-1")
    with pytest.raises(ReadError, match=reason) as e:
        read(p)
    assert "\n" not in str(e.value)


def test_toml_with_tables_and_lines(tmp_path: Path) -> None:
    p = tmp_path / "train.toml"
    p.write_text('seed = 1\n\n[optimizer]\nlr = 3e-4\n"weight decay" = 0.1\n\n[model.attn]\nheads = 8\nlayers = [1, 2]\n')
    part = read(p)
    assert part.format == "TOML config"
    assert (part.config["optimizer.lr"].value, part.config["optimizer.lr"].line) == (3e-4, 4)
    assert part.config["optimizer.weight decay"].line == 5
    assert (part.config["model.attn.heads"].value, part.config["model.attn.heads"].line) == (8, 8)
    assert part.config["model.attn.layers"].value == [1, 2]


def test_toml_without_a_parser_is_an_issue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "train.toml"
    p.write_text("lr = 1\n")
    monkeypatch.setattr(config, "_toml_module", lambda: None)
    part = read(p)
    assert part.is_empty and "tomli" in part.issues[0].message


def test_ini_written_by_configparser(tmp_path: Path) -> None:
    cp = configparser.ConfigParser(interpolation=None)
    cp.optionxform = str  # type: ignore[assignment,method-assign]  # write keys in their case
    cp["DEFAULT"] = {"seed": "1"}
    cp["optimizer"] = {"LR": "0.001", "momentum": "0.9"}
    cp["paths"] = {"data": "%(home)s/data"}
    p = tmp_path / "setup.cfg"
    with open(p, "w") as f:
        cp.write(f)
    part = read(p)
    assert part.config["optimizer.LR"].value == "0.001"
    assert part.config["DEFAULT.seed"].value == "1"
    assert part.config["paths.data"].value == "%(home)s/data"  # no interpolation
    assert_lines_name_keys(p, part)


def test_sniff() -> None:
    assert config.sniff(Path("hparams.yaml"), b"lr: 1\n") == 0.7
    assert config.sniff(Path("x.yml"), b"lr: 1\n") == 0.6
    assert config.sniff(Path("pyproject.toml"), b"[x]\n") == 0.6
    assert config.sniff(Path("setup.cfg"), b"[x]\n") == 0.5
    assert config.sniff(Path("train.log"), b"lr: 1\n") == 0.0
    assert config.sniff(Path("c.yaml"), b"\x00\x00\x00\x00") == 0.0
