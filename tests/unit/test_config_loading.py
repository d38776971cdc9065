"""Loading configuration files: file checks, TOML errors, the environment and the CLI."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest
import structlog

from pumpctl.cli import main
from pumpctl.config import load_config, parse_config_text
from pumpctl.errors import EXIT_CONFIG, EXIT_OK, ConfigError
from tests.unit.config_samples import dumps, valid_document

EXAMPLES = Path(__file__).resolve().parents[2] / "config"


def _write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return _write(tmp_path / "pump.toml", dumps(valid_document()))


def _only_problem(call: object) -> str:
    with pytest.raises(ConfigError) as caught:
        call()  # type: ignore[operator]
    assert len(caught.value.problems) == 1, caught.value.problems
    return caught.value.problems[0]


@pytest.mark.parametrize(
    ("name", "driver"),
    [("demo.toml", "ne1000"), ("ne1000.toml", "ne1000"), ("harvard11.toml", "harvard11")],
)
def test_example_configurations_are_valid(name: str, driver: str, tmp_path: Path) -> None:
    """The shipped example configurations load without a problem, each with its own driver."""
    copy = tmp_path / name
    shutil.copyfile(EXAMPLES / name, copy)
    copy.chmod(0o644)
    config = load_config(copy, environ={})
    assert config.pump.driver == driver


def test_every_example_line_is_commented() -> None:
    """Each setting in the example files has a comment line right above it."""
    for name in ("demo.toml", "ne1000.toml", "harvard11.toml"):
        lines = (EXAMPLES / name).read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            if "=" in line and not line.startswith("#"):
                assert lines[number - 1].startswith("#"), f"{name}:{number + 1} {line}"


def test_loaded_file_carries_its_path_and_digest(config_file: Path) -> None:
    """The digest is the sha256 of the exact file bytes, for the journal."""
    config = load_config(config_file, environ={})
    assert config.source_path == config_file
    assert config.digest == hashlib.sha256(config_file.read_bytes()).hexdigest()


@pytest.mark.parametrize("mode", [0o666, 0o620, 0o602])
def test_file_writable_by_group_or_others_is_refused(config_file: Path, mode: int) -> None:
    """A configuration others could edit is refused with one line naming its mode."""
    config_file.chmod(mode)
    line = _only_problem(lambda: load_config(config_file, environ={}))
    assert line.startswith(f"{config_file}: mode {mode:04o} lets group or others write it")


def test_file_readable_by_others_is_accepted(config_file: Path) -> None:
    """0644, what a fresh clone gives, is fine: reading is not the hazard."""
    config_file.chmod(0o644)
    assert load_config(config_file, environ={}).digest


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    """A missing file gives one line naming it."""
    missing = tmp_path / "nope.toml"
    assert _only_problem(lambda: load_config(missing)) == f"{missing}: no such file"


def test_directory_is_refused(tmp_path: Path) -> None:
    """A directory given as the configuration is refused, not read."""
    tmp_path.chmod(0o700)
    line = _only_problem(lambda: load_config(tmp_path))
    assert line == f"{tmp_path}: not a regular file; allowed a TOML file"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_is_one_line(config_file: Path) -> None:
    """A file the daemon may not read gives one line with the reason."""
    config_file.chmod(0o000)
    line = _only_problem(lambda: load_config(config_file))
    assert line == f"{config_file}: cannot open: Permission denied"


def test_non_utf8_file_is_one_line(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 give one line with the offset."""
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[subject]\nnote = "caf\xe9"\n')
    path.chmod(0o600)
    line = _only_problem(lambda: load_config(path))
    assert line == f"{path}: not UTF-8 text (bad byte at offset 21)"


def test_toml_syntax_error_names_line_and_column() -> None:
    """A TOML syntax error gives one line with its line and column."""
    line = _only_problem(
        lambda: parse_config_text("[prescription]\ndose_ug = 10\ninterval_min = \n")
    )
    assert line == "<string>: TOML syntax error: Invalid value (at line 3, column 16)"


def test_overlong_integer_is_one_line() -> None:
    """An integer too long for Python to convert is a clear error, not a crash."""
    line = _only_problem(lambda: parse_config_text("a = " + "9" * 5000))
    assert line.startswith("<string>: TOML value not readable")


def test_deep_nesting_is_one_line() -> None:
    """Absurdly nested arrays are a clear error, not a crash."""
    line = _only_problem(lambda: parse_config_text("a = " + "[" * 100_000))
    assert line.startswith("<string>: TOML")


def test_permitted_environment_overrides_apply(config_file: Path, tmp_path: Path) -> None:
    """PUMPCTL_STATE_DIR, PUMPCTL_LOG_FORMAT and PUMPCTL_LOG_LEVEL override the file."""
    state = tmp_path / "elsewhere"
    environ = {
        "PUMPCTL_STATE_DIR": str(state),
        "PUMPCTL_LOG_FORMAT": "json",
        "PUMPCTL_LOG_LEVEL": "WARNING",
    }
    config = load_config(config_file, environ=environ)
    assert config.journal.state_dir == state
    assert config.journal.path == state / "journal.sqlite3"
    assert config.control.socket_path == state / "control.sock"
    assert (config.logging.format, config.logging.level) == ("json", "warning")
    assert config.env_overrides == ("PUMPCTL_LOG_FORMAT", "PUMPCTL_LOG_LEVEL", "PUMPCTL_STATE_DIR")


def test_environment_is_read_by_default(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ``environ``, load_config reads the process environment."""
    monkeypatch.setenv("PUMPCTL_LOG_LEVEL", "debug")
    assert load_config(config_file).logging.level == "debug"


def test_empty_environment_variable_counts_as_unset(config_file: Path) -> None:
    """An exported but empty override leaves the file's value alone."""
    config = load_config(config_file, environ={"PUMPCTL_LOG_FORMAT": ""})
    assert config.logging.format == "auto"
    assert config.env_overrides == ()


def test_bad_environment_override_is_one_line(config_file: Path) -> None:
    """An invalid override is named as coming from the environment."""
    line = _only_problem(lambda: load_config(config_file, environ={"PUMPCTL_LOG_FORMAT": "xml"}))
    assert line == 'environment PUMPCTL_LOG_FORMAT = "xml": allowed auto, json, console'


def test_environment_never_overrides_safety_fields(config_file: Path) -> None:
    """Variables aimed at prescription, limits or pump change nothing and are logged as ignored."""
    baseline = load_config(config_file, environ={})
    attempts = {
        "PUMPCTL_PRESCRIPTION__DOSE_UG": "25",
        "PUMPCTL_PRESCRIPTION_INTERVAL_MIN": "60",
        "PUMPCTL_LIMITS__MIN_INTERVAL_MIN": "60",
        "PUMPCTL_LIMITS__MAX_PULSES_24H": "24",
        "PUMPCTL_PUMP__URL": "/dev/ttyS0",
        "PUMPCTL_PUMP__SYRINGE_DIAMETER_MM": "30",
    }
    with structlog.testing.capture_logs() as logs:
        config = load_config(config_file, environ=attempts)
    assert config == baseline
    assert logs == [
        {"event": "config.env_ignored", "log_level": "warning", "variables": sorted(attempts)}
    ]


def test_cli_config_check_prints_the_effective_prescription(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``pumpctl config check`` prints derived values and limits and exits 0."""
    assert main(["config", "check", str(config_file)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "= 10.000 uL per pulse" in out
    assert "pump rate 10.000 uL/min" in out
    assert "  min_interval_min = 90 (default)" in out
    assert out.endswith("configuration OK\n")


@pytest.mark.parametrize(
    "text",
    [
        "[prescription]\ndose_ug = '5 mg'\ninterval_min = 45\n[limits]\nmax_pulses_24h = 30\n",
        "this is = = not toml",
        "[pump]\nurl = 5\n" * 1,
    ],
)
def test_cli_reports_invalid_configuration_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    """SR-24: an invalid configuration gives clear one-line errors, no traceback, exit 78."""
    path = _write(tmp_path / "bad.toml", text)
    assert main(["config", "check", str(path)]) == EXIT_CONFIG
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert lines
    assert all(line.startswith("pumpctl: error: ") for line in lines)
    assert "Traceback" not in captured.err


def test_cli_reports_a_missing_file_with_exit_78(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SR-24: a missing configuration file is one line and exit code 78."""
    missing = tmp_path / "missing.toml"
    assert main(["config", "check", str(missing)]) == EXIT_CONFIG
    assert capsys.readouterr().err == f"pumpctl: error: {missing}: no such file\n"


def test_cli_refuses_a_group_writable_file(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SR-24: a file others can write is refused through the CLI with exit 78."""
    config_file.chmod(0o664)
    assert main(["config", "check", str(config_file)]) == EXIT_CONFIG
    assert "mode 0664 lets group or others write it" in capsys.readouterr().err


def test_relative_state_dir_is_relative_to_the_file(tmp_path: Path) -> None:
    """A relative state_dir is read from the configuration file's folder, not the cwd."""
    document = valid_document()
    document["journal"] = {"state_dir": "../state"}
    (tmp_path / "etc").mkdir()
    path = _write(tmp_path / "etc" / "pump.toml", dumps(document))
    config = load_config(path, environ={})
    assert config.journal.state_dir == tmp_path / "state"
    assert config.journal.path == tmp_path / "state" / "journal.sqlite3"


@pytest.mark.parametrize("name", ["sendmail.toml", "webhook.toml"])
def test_shipped_notify_examples_are_valid(name: str) -> None:
    """The notification examples in config/notify/ load when added to a configuration."""
    example = EXAMPLES / "notify" / name
    text = dumps(valid_document()) + "\n" + example.read_text(encoding="utf-8")
    config = parse_config_text(text)
    assert config.notify is not None
    assert config.notify.commands[0].name in ("mail", "webhook")


def test_notify_section_problems_name_the_field() -> None:
    """A [notify] command without argv, or with an unknown stdin form, is refused by name."""
    with pytest.raises(ConfigError) as err:
        parse_config_text(
            dumps(valid_document()) + '\n[notify]\n[[notify.command]]\nstdin = "xml"\n'
        )
    text = "\n".join(err.value.problems)
    assert "notify.command[0].argv" in text or "notify.command.0.argv" in text
    assert "stdin" in text
