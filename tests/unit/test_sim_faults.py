"""Fault injection in the simulator: the spelling of faults and what each one does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pumpctl.errors import ConfigError, ProtocolError
from pumpctl.simulator.faults import Trigger, load_scenario, parse_fault
from pumpctl.simulator.testing import SimClient, decode


def ready(faults: str = "") -> SimClient:
    client = SimClient()
    client.acknowledge_reset()
    for command in ("DIA4.699", "DIRINF", "VOLUL", "VOL50", "RAT500UM"):
        client.ask(command)
    if faults:
        client.sim.inject(faults)
    return client


@pytest.mark.parametrize(
    ("text", "trigger"),
    [
        ("stall", Trigger()),
        ("stall@0.5", Trigger(fraction=0.5)),
        ("power-reset@run:2", Trigger(run=2)),
        ("stall@run:3:0.25", Trigger(run=3, fraction=0.25)),
        ("silence@t=3600", Trigger(at_s=3600.0)),
        ("garble@cmd:5", Trigger(cmd=5)),
    ],
)
def test_fault_triggers_parse(text: str, trigger: Trigger) -> None:
    """Each WHEN spelling maps to its trigger."""
    assert parse_fault(text).trigger == trigger


def test_fault_options_parse() -> None:
    """Options set the duration, the count, the delay and the reported identity."""
    spec = parse_fault("slow@cmd:2,delay=0.3,times=4")
    assert (spec.delay_s, spec.times) == (0.3, 4)
    assert parse_fault("silence,for=60").duration_s == 60.0
    assert parse_fault("wrong-identity,ver=NE300V3.1").ver == "NE300V3.1"


@pytest.mark.parametrize(
    "text",
    [
        "explode",
        "stall@1.5",
        "stall@run:0",
        "stall@t=-1",
        "slow,pace=3",
        "stall@run:1:2:3",
        "wrong-identity,ver=" + "X" * 60,
    ],
)
def test_bad_fault_specs_name_the_problem(text: str) -> None:
    """An unknown kind, a bad WHEN or option is a ConfigError naming the spec."""
    with pytest.raises(ConfigError, match="fault"):
        parse_fault(text)


def test_scenario_files_in_toml_and_json(tmp_path: Path) -> None:
    """A scenario file lists faults in TOML or JSON."""
    toml_file = tmp_path / "s.toml"
    toml_file.write_text('faults = ["stall@0.5", "silence@t=10,for=5"]\n')
    json_file = tmp_path / "s.json"
    json_file.write_text(json.dumps({"faults": ["runaway@run:2"]}))
    assert [f.kind for f in load_scenario(toml_file)] == ["stall", "silence"]
    assert load_scenario(json_file)[0].trigger == Trigger(run=2)
    bad = tmp_path / "bad.toml"
    bad.write_text("faults = 3\n")
    with pytest.raises(ConfigError, match="faults"):
        load_scenario(bad)


def test_stall_at_half_the_bolus_leaves_a_partial_total() -> None:
    """stall@0.5 stops the motor at 50 % and the next reply is A?S."""
    client = ready("stall@0.5")
    client.ask("RUN")
    client.advance(60.0)
    assert client.ask("").alarm == "S"
    assert client.ask("DIS").data == "I25.00W0.000UL"


def test_power_reset_at_the_second_run_loses_that_bolus() -> None:
    """power-reset@run:2 answers RUN, then the pump resets: A?R, nothing more delivered."""
    client = ready("power-reset@run:2")
    client.ask("RUN")
    client.advance(60.0)
    assert client.ask("RUN").status == "I"
    client.advance(60.0)
    assert client.ask("").alarm == "R"
    assert client.ask("DIS").data == "I50.00W0.000UL"


def test_safe_timeout_fault_raises_t() -> None:
    """safe-timeout stops the pump as an expired watchdog does (A?T)."""
    client = ready("safe-timeout@0.2")
    client.ask("RUN")
    client.advance(60.0)
    assert client.ask("").alarm == "T"
    assert client.ask("DIS").data == "I10.00W0.000UL"


def test_runaway_keeps_infusing_past_the_volume_until_stopped() -> None:
    """runaway ignores VOL: still infusing after the bolus should have ended; STP stops it."""
    client = ready("runaway")
    client.ask("RUN")
    client.advance(12.0)
    assert client.ask("").status == "I"
    assert client.ask("DIS").data == "I100.0W0.000UL"
    client.ask("STP")
    client.ask("STP")
    client.advance(10.0)
    assert client.ask("DIS").data == "I100.0W0.000UL"


def test_spontaneous_start_infuses_without_run() -> None:
    """spontaneous-start@t=30 begins infusing at 30 s with no RUN sent."""
    client = ready("spontaneous-start@t=30")
    client.advance(29.0)
    assert client.ask("").status == "S"
    client.advance(2.0)
    assert client.ask("").status == "I"


def test_keypad_pause_shows_an_unexpected_p() -> None:
    """keypad-pause@0.5 pauses the bolus halfway as a user at the keypad would."""
    client = ready("keypad-pause@0.5")
    client.ask("RUN")
    client.advance(60.0)
    assert client.ask("").status == "P"
    assert client.ask("DIS").data == "I25.00W0.000UL"


def test_reservoir_empty_stalls_at_end_of_travel() -> None:
    """reservoir-empty@0.4 runs the syringe dry at 40 % of the bolus: A?S, partial total."""
    client = ready("reservoir-empty@0.4")
    client.ask("RUN")
    client.advance(60.0)
    assert client.ask("").alarm == "S"
    assert client.ask("DIS").data == "I20.00W0.000UL"
    client.ask("RUN")
    client.advance(1.0)
    assert client.ask("").alarm == "S"


def test_wrong_identity_changes_ver() -> None:
    """wrong-identity makes VER report another model."""
    client = ready("wrong-identity")
    assert client.ask("VER").data == "NE500V3.934"


def test_silence_swallows_commands_for_its_duration() -> None:
    """silence@cmd:2,for=10: from the 2nd command after arming, 10 s without any reply."""
    client = ready("silence@cmd:2,for=10")
    assert client.ask("VER").data == "NE1000V3.928"
    assert client.send("VER") == []
    client.advance(5.0)
    assert client.send("VER") == []
    client.advance(6.0)
    assert client.ask("VER").data == "NE1000V3.928"


def test_garbled_reply_is_a_protocol_error_for_the_client() -> None:
    """garble damages one reply so the client's decoder rejects it; the next is clean."""
    client = ready("garble")
    out = client.raw(b"0VER\r")
    with pytest.raises(ProtocolError):
        decode(out[0].data)
    assert client.ask("VER").data == "NE1000V3.928"


def test_truncated_reply_lacks_its_end() -> None:
    """truncate cuts the reply before its ETX."""
    client = ready("truncate")
    frame = client.raw(b"0VER\r")[0].data
    assert frame[0] == 0x02
    assert 0x03 not in frame


def test_duplicated_reply_arrives_twice() -> None:
    """duplicate sends the same reply frame twice."""
    client = ready("duplicate")
    out = client.raw(b"0VER\r")
    assert len(out) == 2
    assert out[0].data == out[1].data


def test_corrupted_crc_fails_the_clients_check_in_safe_mode() -> None:
    """bad-crc flips the CRC of a safe frame: the client sees a CRC error."""
    client = ready()
    client.ask("SAF50", safe=True)
    client.sim.inject("bad-crc")
    with pytest.raises(ProtocolError, match="CRC"):
        client.send("VER")


def test_slow_reply_is_delayed() -> None:
    """slow,delay=0.3 holds the next reply back by 0.3 s beyond its wire time."""
    client = ready("slow,delay=0.3")
    assert client.raw(b"0VER\r")[0].delay_s > 0.3
    assert client.raw(b"0VER\r")[0].delay_s < 0.1


def test_power_reset_with_pf1_restarts_the_bolus() -> None:
    """With PF1 the pump restarts an interrupted program after power returns (hence PF0)."""
    client = ready("power-reset@0.5")
    client.ask("PF1")
    client.ask("RUN")
    client.advance(60.0)
    assert client.ask("").alarm == "R"
    assert client.ask("DIS").data == "I75.00W0.000UL"


def test_fired_faults_are_in_the_ledger() -> None:
    """The ground-truth ledger records when each fault happened."""
    client = ready("stall@0.5")
    client.ask("RUN")
    client.advance(60.0)
    faults = [e for e in client.sim.pump.ledger.entries if e["event"] == "fault"]
    assert [(f["kind"], f["spec"]) for f in faults] == [("stall", "stall@0.5")]


def test_link_fault_at_a_run_hits_that_runs_reply() -> None:
    """garble@run:1 damages the reply to RUN itself, while the pump does start."""
    client = ready("garble@run:1")
    with pytest.raises(ProtocolError):
        client.send("RUN")
    assert client.ask("").status == "I"
