"""The clinician report of a journal the daemon itself wrote, with unexplained flow in it (SR-26):
the real daemon, watching pumpsim on a virtual clock, journals a rogue bolus between pulses; the
report built from that journal must list it, count its dose and alarm on page 1."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from pumpctl.journal.events import EventKind
from pumpctl.report.build import build_report
from pumpctl.report.fhir import to_bundle
from pumpctl.report.html import render_html
from tests.daemon.harness import START, make_bench

SLOT_1 = START + timedelta(minutes=5)  # 08:00


def test_the_report_of_a_daemon_journal_lists_and_counts_a_rogue_bolus(tmp_path: Path) -> None:
    """SR-26: 10 uL run by someone else between two pulses, journaled by the daemon's flow watch
    as ``flow.unexplained``, is in the report: on page 1 in red with its volume, in the dose the
    subject received beside the pulses' own, and as a FHIR administration of its dose."""
    bench = make_bench(tmp_path, wire_time=True)
    bench.daemon.start()
    bench.run_until(SLOT_1 + timedelta(minutes=30))
    after_s = bench.daemon.flow_watch.seconds_until_due() + 0.5
    bench.sim.inject(f"rogue@t={after_s},send=RAT900UM")
    bench.sim.inject(f"rogue@t={after_s},send=RUN")
    bench.run_for(30)
    (record,) = bench.journal.events(kinds=(EventKind.FLOW_UNEXPLAINED.value,))
    bench.daemon.shutdown("report")
    bench.journal.close()

    report = build_report(tmp_path / "journal.sqlite3")
    (flow,) = report.safety.unexplained_flow
    assert (flow.when, flow.flow_id) == (record.wall, f"flow-{record.seq}")
    assert flow.volume_ul == Decimal("10.00") and flow.dose_ug is not None
    assert flow.dose_ug == Decimal(str(record.payload["dose_ug"]))
    pulses = report.total.delivered_dose_ug
    assert pulses > 0  # the 08:00 pulse
    assert report.total.received_dose_ug == pulses + flow.dose_ug
    page = render_html(report)
    assert "SAFETY: 1 event of over-delivery or unexplained flow" in page
    assert "10 µL (10 µg) moved that no pulse commanded (found between pulses;" in page
    given = [
        e["resource"]
        for e in to_bundle(report)["entry"]
        if e["resource"]["resourceType"] == "MedicationAdministration"
        and e["resource"]["identifier"][0]["value"] == flow.flow_id
    ]
    assert [g["dosage"]["dose"]["value"] for g in given] == [10]
