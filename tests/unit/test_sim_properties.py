"""Property tests: the simulator's physics agree with its ledger, and no input can break it."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pumpctl.drivers.ne1000_codec import ReplyDecoder
from pumpctl.simulator.commands import HANDLERS
from pumpctl.simulator.testing import SimClient
from pumpctl.simulator.units import format_number

bolus = st.tuples(
    st.integers(min_value=1, max_value=120),  # volume uL (8 of them fit the 1 mL syringe)
    st.integers(min_value=10, max_value=800),  # rate uL/min
    st.floats(min_value=0.0, max_value=0.9),  # fraction of the bolus before a STP, if any
    st.booleans(),  # whether that STP is sent (pause), then RUN resumes
)


@settings(max_examples=40, deadline=None)
@given(st.lists(bolus, min_size=1, max_size=8))
def test_ledger_matches_dispensed_totals_without_faults(
    boluses: list[tuple[int, int, float, bool]],
) -> None:
    """In any fault-free run, DIS equals the ledger's infused total to the pump's resolution."""
    client = SimClient()
    client.acknowledge_reset()
    client.ask("DIA4.699")
    client.ask("VOLUL")
    for volume, rate, pause_at, pause in boluses:
        duration_s = volume / rate * 60.0
        client.ask(f"VOL{volume}")
        client.ask(f"RAT{rate}UM")
        client.ask("RUN")
        if pause:
            client.advance(pause_at * duration_s)
            assert client.ask("STP").status == "P"
            client.advance(30.0)
            client.ask("RUN")
        client.advance(duration_s + 1.0)
        assert client.ask("").status == "S"
    dis = client.ask("DIS").data
    ledger_ul = client.sim.pump.ledger.infused_ul()
    assert dis == f"I{format_number(ledger_ul)}W0.000UL"
    assert ledger_ul == pytest.approx(sum(volume for volume, *_ in boluses), abs=1e-6)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=10))
def test_random_bytes_only_ever_draw_well_formed_replies(chunks: list[bytes]) -> None:
    """Whatever bytes arrive, the pump answers only frames the client's decoder accepts."""
    client = SimClient()
    decoder = ReplyDecoder()
    for chunk in chunks:
        for outgoing in client.raw(chunk):
            decoder.feed(outgoing.data)
        client.advance(0.1)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([*sorted(HANDLERS), "XSIM", "FOO"]),
            st.text(alphabet="0123456789.AULMHINFWDRSTPX", max_size=8),
        ),
        max_size=12,
    )
)
def test_any_command_with_any_argument_draws_exactly_one_valid_reply(
    commands: list[tuple[str, str]],
) -> None:
    """Every known command name with any argument is answered once, with a well-formed frame."""
    client = SimClient()
    for name, argument in commands:
        # Digits right after the address digit would address another pump (no reply, correctly).
        assume(name or not argument[:1].isdigit())
        client.ask(name + argument)
        client.address = client.sim.pump.address  # follow an accepted *ADR
        client.advance(1.0)
