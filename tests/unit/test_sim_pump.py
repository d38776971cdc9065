"""State-machine tests of the simulated NE-1000 on a virtual clock (no sleeping)."""

from __future__ import annotations

import pytest

from pumpctl.core.clock import VirtualClock
from pumpctl.drivers.ne1000_codec import encode_command
from pumpctl.simulator.session import Ne1000Simulator
from pumpctl.simulator.testing import SimClient, decode


@pytest.fixture
def client() -> SimClient:
    c = SimClient()
    c.acknowledge_reset()
    return c


def program(client: SimClient, volume: str = "50", rate: str = "500UM") -> None:
    for command in ("DIA4.699", "DIRINF", "VOLUL", f"VOL{volume}", f"RAT{rate}"):
        reply = client.ask(command)
        assert (reply.status, reply.error) == ("S", None), command


def test_power_up_reset_alarm_is_the_reply_and_the_command_is_not_executed() -> None:
    """The first command after power-up is answered A?R and not carried out."""
    client = SimClient()
    first = client.ask("DIA4.699")
    assert (first.status, first.alarm) == ("A", "R")
    assert client.ask("DIA").data == "26.59"
    assert client.ask("DIA4.699").error is None
    assert client.ask("DIA").data == "4.699"


def test_ver_reports_the_ne1000_identity(client: SimClient) -> None:
    """VER answers the NE-1000 firmware string."""
    assert client.ask("VER").data == "NE1000V3.928"


def test_diameter_sets_the_default_volume_units(client: SimClient) -> None:
    """A small syringe selects microlitres, a large one millilitres."""
    client.ask("DIA4.699")
    assert client.ask("VOL").data.endswith("UL")
    client.ask("DIA26.59")
    assert client.ask("VOL").data.endswith("ML")


def test_rate_outside_the_syringes_limits_is_out_of_range(client: SimClient) -> None:
    """Rates above the maximum plunger speed or below the minimum get ?OOR."""
    client.ask("DIA4.699")
    assert client.ask("RAT900UM").error == "?OOR"
    assert client.ask("RAT0.001UH").error == "?OOR"
    assert client.ask("RAT880UM").error is None


def test_bolus_moves_in_time_and_stops_at_its_volume(client: SimClient) -> None:
    """Dispensed volume grows at the rate and stops exactly at VOL."""
    program(client)
    assert client.ask("RUN").status == "I"
    client.advance(3.0)
    assert client.ask("DIS").data == "I25.00W0.000UL"
    client.advance(3.5)
    assert client.ask("").status == "S"
    assert client.ask("DIS").data == "I50.00W0.000UL"


def test_stop_pauses_first_then_stops_and_run_resumes_the_rest(client: SimClient) -> None:
    """The first STP pauses (P) and RUN finishes the phase; a second STP stops (S)."""
    program(client)
    client.ask("RUN")
    client.advance(1.2)
    assert client.ask("STP").status == "P"
    client.advance(100.0)
    assert client.ask("DIS").data == "I10.00W0.000UL"
    assert client.ask("RUN").status == "I"
    client.advance(10.0)
    assert client.ask("DIS").data == "I50.00W0.000UL"
    client.ask("RUN")
    client.advance(1.2)
    client.ask("STP")
    assert client.ask("STP").status == "S"
    client.ask("RUN")
    client.advance(6.0)
    assert client.ask("DIS").data == "I110.0W0.000UL"


def test_volume_cannot_change_while_pumping(client: SimClient) -> None:
    """VOL while infusing is not applicable now (?NA); the rate number may change."""
    program(client)
    client.ask("RUN")
    assert client.ask("VOL10").error == "?NA"
    assert client.ask("RAT250UM").error is None
    assert client.ask("RAT1MM").error == "?NA"


def test_dispensed_units_follow_volume_units_and_clear(client: SimClient) -> None:
    """DIS prints in the volume units; CLD INF and CLD WDR clear each accumulator."""
    program(client)
    client.ask("RUN")
    client.advance(10.0)
    client.ask("VOLML")
    assert client.ask("DIS").data == "I0.050W0.000ML"
    client.ask("CLDINF")
    assert client.ask("DIS").data == "I0.000W0.000ML"


def test_withdraw_counts_separately(client: SimClient) -> None:
    """A withdrawal grows the W accumulator and refills the reservoir."""
    program(client)
    client.ask("RUN")
    client.advance(10.0)
    client.ask("DIRWDR")
    assert client.ask("RUN").status == "W"
    client.advance(10.0)
    assert client.ask("DIS").data == "I50.00W50.00UL"
    assert client.sim.pump.drive.reservoir_ul == pytest.approx(1000.0)


def test_commands_for_other_addresses_get_no_reply() -> None:
    """A pump answers its own address, and address-less commands only at address 0."""
    sim = Ne1000Simulator(VirtualClock(), address=3)
    other = SimClient(sim, address=1)
    assert other.send("VER") == []
    assert SimClient(sim, address=None).send("VER") == []
    mine = SimClient(sim, address=3)
    assert mine.ask("VER").alarm == "R"
    assert mine.ask("VER").address == 3


def test_system_address_command_moves_the_pump(client: SimClient) -> None:
    """*ADR n sets the network address; the pump then answers at n."""
    assert client.raw(b"*ADR7\r")
    assert SimClient(client.sim, address=7).ask("VER").address == 7


def test_spaces_and_case_are_ignored(client: SimClient) -> None:
    """Spaces are stripped and letters upper-cased, as typed from a terminal."""
    replies = decode(b"".join(o.data for o in client.raw(b" 0 r a t 5 0 0 u m\r")))
    assert replies[0].error is None
    assert client.ask("RAT").data == "500.0UM"


def test_unknown_command_is_answered_with_a_question_mark(client: SimClient) -> None:
    """An unrecognised command draws exactly one reply carrying ?."""
    assert client.ask("FOO").error == "?"


@pytest.mark.parametrize(
    ("setting", "query", "answer"),
    [
        ("AL1", "AL", "1"),
        ("BUZ1", "BUZ", "1"),
        ("TRG LE", "TRG", "LE"),
        ("LOC1", "LOC", "1"),
        ("OUT1", "OUT", "1"),
        ("PF0", "PF", "0"),
        ("DIN1", "DIN", "1"),
        ("ROM1", "ROM", "1"),
        ("BP0", "BP", "0"),
        ("PHN2", "PHN", "02"),
    ],
)
def test_appendix_b_settings_are_stored_and_answered(
    client: SimClient, setting: str, query: str, answer: str
) -> None:
    """Settings without physics are accepted and read back as set."""
    assert client.ask(setting).error is None
    assert client.ask(query).data == answer


def test_input_pin_is_query_only(client: SimClient) -> None:
    """IN reports the TTL level and refuses an argument."""
    assert client.ask("IN").data == "0"
    assert client.ask("IN1").error == "?OOR"


def test_a_two_phase_program_runs_both_rate_phases(client: SimClient) -> None:
    """RUN plays consecutive RAT phases; the program ends at an STP phase."""
    program(client)
    client.ask("PHN2")
    client.ask("FUNRAT")
    client.ask("RAT250UM")
    client.ask("VOL10")
    client.ask("PHN3")
    client.ask("FUNSTP")
    client.ask("RUN")
    client.advance(7.0)
    assert client.ask("DIS").data == "I54.17W0.000UL"
    client.advance(10.0)
    assert client.ask("DIS").data == "I60.00W0.000UL"
    assert client.ask("").status == "S"


def test_purge_runs_at_maximum_rate_until_stopped(client: SimClient) -> None:
    """PUR reports X and moves at the maximum rate; STP stops it."""
    program(client)
    assert client.ask("PUR").status == "X"
    client.advance(0.1)
    assert client.ask("STP").status == "S"
    assert client.sim.pump.drive.infused_ul > 1.0


def test_reservoir_end_stalls_the_motor() -> None:
    """A bolus larger than the syringe's contents stalls at the end of travel (A?S)."""
    sim = Ne1000Simulator(VirtualClock(), syringe_ul=30.0)
    client = SimClient(sim)
    client.acknowledge_reset()
    program(client)
    client.ask("RUN")
    client.advance(60.0)
    assert client.ask("DIS").alarm == "S"
    assert client.ask("DIS").data == "I30.00W0.000UL"


def test_xsim_reports_scale_and_scaled_time() -> None:
    """The vendor query XSIM answers PUMPSIM SCALE=<float> NOW=<unix seconds>."""
    clock = VirtualClock()
    client = SimClient(Ne1000Simulator(clock, time_scale=60.0))
    client.acknowledge_reset()
    data = client.ask("XSIM").data
    assert data == f"PUMPSIM SCALE=60.0 NOW={clock.now().timestamp():.6f}"


def test_hours_of_pumping_run_in_milliseconds_and_match_the_ledger(client: SimClient) -> None:
    """A day of 90-minute pulses on a virtual clock: DIS equals the ledger's physical total."""
    program(client, volume="5", rate="100UM")
    for _ in range(16):
        client.ask("RUN")
        client.advance(90 * 60.0)
    dis = client.ask("DIS").data
    assert dis == "I80.00W0.000UL"
    assert client.sim.pump.ledger.infused_ul() == pytest.approx(80.0, abs=0.005)


def test_one_reply_per_command_even_when_sent_together(client: SimClient) -> None:
    """Several commands in one write draw exactly one reply each, in order."""
    replies = decode(b"".join(o.data for o in client.raw(b"0VER\r0DIA\r0\r")))
    assert [r.data for r in replies] == ["NE1000V3.928", "26.59", ""]


def test_reply_delay_is_the_wire_time_at_the_baud() -> None:
    """Each reply is due after its bytes' time on the wire (10 bits per byte)."""
    sim = Ne1000Simulator(VirtualClock(), baud=9600)
    out = sim.receive(encode_command(0, "VER", safe=False))
    assert out[0].delay_s == pytest.approx(len(out[0].data) * 10 / 9600)


def test_phase_functions_take_only_numeric_arguments(client: SimClient) -> None:
    """FUN accepts a known function with a short number and refuses anything else (?OOR)."""
    assert client.ask("FUNPAS20").error is None
    assert client.ask("FUN").data == "PAS20"
    assert client.ask("FUNPAS" + "X" * 200).error == "?OOR"
    assert client.ask("FUNXYZ").error == "?OOR"


def test_a_pause_phase_waits_with_status_t_then_continues(client: SimClient) -> None:
    """A PAS n phase between two RAT phases waits n seconds (status T), then pumps on."""
    program(client)
    client.ask("PHN2")
    client.ask("FUNPAS20")
    client.ask("PHN3")
    client.ask("FUNRAT")
    client.ask("RAT500UM")
    client.ask("VOL10")
    client.ask("RUN")
    client.advance(10.0)
    assert client.ask("").status == "T"
    assert client.ask("DIS").data == "I50.00W0.000UL"
    client.advance(16.5)
    assert client.ask("").status == "I"
    client.advance(5.0)
    assert client.ask("").status == "S"
    assert client.ask("DIS").data == "I60.00W0.000UL"


@pytest.mark.timeout(20)
def test_motion_ends_exactly_even_at_large_clock_readings() -> None:
    """With an elapsed clock near 1e9 s (long scaled runs) boluses and faults still end exactly."""
    clock = VirtualClock(elapsed_s=1.0e9)
    client = SimClient(Ne1000Simulator(clock))
    client.acknowledge_reset()
    program(client, volume="7.3", rate="437UM")
    for _ in range(50):
        client.sim.inject("keypad-pause@0.37")
        client.ask("RUN")
        client.advance(0.77)
        client.ask("RUN")
        client.advance(3.3)
    assert client.ask("DIS").data == "I365.0W0.000UL"
