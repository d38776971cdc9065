"""The sources of the clinical numbers a report uses, printed in the report itself.

A report travels without the repository (a PDF in a patient file), so it carries its own short
list: each number it relies on, the value in force, and the publication it comes from. The full
account is docs/clinical-parameters.md; a test holds these references to that page's.
"""

from __future__ import annotations

from pumpctl.core.exposure import DEFAULT_PK, DEFAULT_THRESHOLD_MARGIN
from pumpctl.core.gate import resolve_threshold
from pumpctl.core.model import HardCeiling, Limits

_FERRING = (
    "Ferring: product information for gonadorelin acetate for pulsatile administration "
    "(Lutrelef; Lutrepulse 3.2 mg kit, German label, 2011)."
)

#: Each citation key of docs/clinical-parameters.md and its reference, as that page gives it.
REFERENCES: dict[str, str] = {
    "Belchetz 1978": "Belchetz PE, Plant TM, Nakai Y, Keogh EJ, Knobil E. Hypophysial responses "
    "to continuous and intermittent delivery of hypothalamic gonadotropin-releasing hormone. "
    "Science 1978;202:631–633.",
    "Handelsman 1984": "Handelsman DJ, et al. Pharmacokinetics of gonadotropin-releasing "
    "hormone: comparison of subcutaneous and intravenous routes. J Clin Endocrinol Metab 1984.",
    "Hoffman 1982": "Hoffman AR, Crowley WF Jr. Induction of puberty in men by long-term "
    "pulsatile administration of low-dose gonadotropin-releasing hormone. N Engl J Med "
    "1982;307:1237–1241.",
    "Hurley 1984": "Hurley DM, Brian R, Outch K, et al. Induction of ovulation and fertility in "
    "amenorrheic women by pulsatile low-dose gonadotropin-releasing hormone. N Engl J Med "
    "1984;310:1069–1074.",
    "Hurley 1987": "Hurley DM, Clarke IJ, Shelton R, Burger HG. Subcutaneous administration of "
    "gonadotropin-releasing hormone: absorption kinetics and gonadotropin responses. J Clin "
    "Endocrinol Metab 1987;64:46–52.",
    "Knobil 1980": "Knobil E. The neuroendocrine control of the menstrual cycle. Recent Prog "
    "Horm Res 1980;36:53–88.",
    "Lutrelef label": _FERRING,
    "Lutrepulse label": _FERRING,
    "Miller 1983": "Miller DS, Reid RR, Cetel NS, Rebar RW, Yen SSC. Pulsatile administration "
    "of low-dose gonadotropin-releasing hormone: ovulation and pregnancy in women with "
    "hypothalamic amenorrhea. JAMA 1983;250:2937–2941.",
    "NCT01976728": "ClinicalTrials.gov NCT01976728: gonadorelin (Lutrepulse) delivered by a "
    "patch pump.",
    "Niu 2024": "Niu YH, Xu H, Chen YW, Lan RZ, Wang T, Wang SG, Liu JH. Effect and safety of "
    "pulsatile GnRH therapy for male congenital hypogonadotropic hypogonadism (in Chinese). "
    "2024 (45 men, gonadorelin 7–15 µg every 90 min).",
    "Zhang 2019": "Zhang L, et al. The pulsatile gonadorelin pump induces earlier "
    "spermatogenesis than cyclical gonadotropin therapy in congenital hypogonadotropic "
    "hypogonadism men. Am J Mens Health 2019.",
}

DERIVED = "derived"


def numbers(limits: Limits) -> list[tuple[str, str, tuple[str, ...]]]:
    """(what, the value in force, citation keys) for each clinical number the report uses."""
    pk = DEFAULT_PK
    threshold = resolve_threshold(limits)
    return [
        ("pulsatile, never continuous, exposure", "the reason for every limit below",
         ("Belchetz 1978",)),
        ("regimens in use", "5–20 µg every 90–120 min, a bolus of about a minute",
         ("Hurley 1984", "Miller 1983", "Hoffman 1982", "Lutrepulse label")),
        ("minimum interval between pulse starts", f"{limits.min_interval_min} min (never below "
         f"{HardCeiling.MIN_INTERVAL_MIN} min)", ("Knobil 1980", "Belchetz 1978")),
        ("dose per pulse", f"at most {limits.max_dose_per_pulse_ug} µg (never above "
         f"{HardCeiling.MAX_DOSE_PER_PULSE_UG} µg)", ("Lutrepulse label",)),
        ("bolus length", f"at most {limits.max_pulse_duration_s} s", ("Lutrepulse label",)),
        ("missed pulses", "never made up", ("Lutrepulse label",)),
        ("exposure model: volume, clearance", f"{pk.volume_l:g} L, "
         f"{pk.clearance_l_per_min:g} L/min", ("Lutrelef label",)),
        ("exposure model: absorption half-life", f"{pk.absorption_half_life_min:g} min",
         ("Hurley 1987",)),
        ("exposure model: bioavailability", f"{pk.bioavailability:g}",
         ("Lutrelef label", "Handelsman 1984")),
        ("gate threshold (level before a pulse)", f"{threshold:.2f} of one pulse's peak"
         + (" (set in the limits)" if limits.exposure_threshold is not None else
            f": the steady-state level before a pulse at the minimum interval × "
            f"{DEFAULT_THRESHOLD_MARGIN:g}, at most {HardCeiling.MAX_EXPOSURE_FRACTION:g}"),
         (DERIVED,)),
    ]  # fmt: skip


def cited(rows: list[tuple[str, str, tuple[str, ...]]]) -> list[tuple[str, str]]:
    """(keys, reference) the rows cite, once each in citation order; keys that name one
    reference (two labels of one maker) share its line."""
    by_text: dict[str, list[str]] = {}
    for _, _, keys in rows:
        for key in keys:
            if key != DERIVED:
                names = by_text.setdefault(REFERENCES[key], [])
                if key not in names:
                    names.append(key)
    return [(", ".join(names), text) for text, names in by_text.items()]
