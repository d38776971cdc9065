"""Predicted LH response of the gonadotroph to GnRH: a published model, not a measurement.

Heinze, Keener & Midgley 1998 (Am J Physiol 275:E1061), the paper's first ("core") model. GnRH at
``G`` nM binds free receptor ``F``; bound receptor ``B`` desensitizes to ``D``; ``D`` recovers to
``F``. Releasable LH ``R`` is made at a constant rate ``s`` and released at ``(a1 + a2·B)·R``::

    dF/dt = kdf·D − kfb·G·F      dB/dt = kfb·G·F − kbd·B      dD/dt = kbd·B − kdf·D
    dR/dt = s − (a1 + a2·B)·R    LH release rate L = (a1 + a2·B)·R

``F + B + D = 1`` (fractions of the receptor); time in hours, as the paper fitted it. Parameter
values, units, sources and every choice made here: docs/pituitary.md. The solvers (numpy, scipy)
live in :mod:`pumpctl.physiology`; this module is pure and the daemon never uses it.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Gonadorelin base, C55H75N17O13, from IUPAC standard atomic weights [derived].
GONADORELIN_G_PER_MOL = 1182.31

#: pg/mL per nM: ``g/mol`` is ``pg/pmol``, and 1 nM is 1 pmol/mL.
PG_PER_ML_PER_NM = GONADORELIN_G_PER_MOL


@dataclass(frozen=True)
class GonadotrophParameters:
    """The published fit (per hour, nM); names carry the paper's symbols and units."""

    #: kfb: binding of GnRH to free receptor, per nM per hour.
    kfb_per_nm_h: float = 19.35
    #: kbd: bound receptor becomes desensitized, per hour.
    kbd_per_h: float = 9.91
    #: kdf: desensitized receptor recovers to free, per hour.
    kdf_per_h: float = 2.52
    #: a1: basal release of releasable LH, per hour.
    a1_per_h: float = 0.0328
    #: a2: release per unit of bound receptor, per hour.
    a2_per_h: float = 0.0830
    #: s: synthesis into the releasable pool, LH units per hour.
    s_lh_per_h: float = 6.80

    @property
    def resting_pool(self) -> float:
        """Releasable LH of a pituitary that has seen no GnRH for long: ``s / a1``."""
        return self.s_lh_per_h / self.a1_per_h

    @property
    def basal_release_lh_per_h(self) -> float:
        """Release rate of the resting pituitary (equal to ``s``): the unit of relative LH."""
        return self.a1_per_h * self.resting_pool

    def receptor_plateau(self, gnrh_nm: float) -> tuple[float, float]:
        """Bound and desensitized fractions under constant GnRH, in closed form.

        From dB/dt = dD/dt = 0 with F + B + D = 1. As ``gnrh_nm`` grows, bound receptor tends to
        kdf / (kdf + kbd): continuous GnRH never holds more receptor bound than that.
        """
        binding = self.kfb_per_nm_h * gnrh_nm
        det = (binding + self.kbd_per_h) * self.kdf_per_h + binding * self.kbd_per_h
        return binding * self.kdf_per_h / det, binding * self.kbd_per_h / det


HEINZE_1998 = GonadotrophParameters()


@dataclass(frozen=True)
class GonadotrophState:
    """Receptor fractions and releasable LH at one instant."""

    free: float
    bound: float
    desensitized: float
    releasable_lh: float

    @classmethod
    def resting(cls, params: GonadotrophParameters = HEINZE_1998) -> GonadotrophState:
        """A pituitary without GnRH for long: all receptor free, the pool at ``s / a1``."""
        return cls(1.0, 0.0, 0.0, params.resting_pool)


def derivatives(
    state: tuple[float, float, float, float], gnrh_nm: float, p: GonadotrophParameters
) -> tuple[float, float, float, float]:
    """d(F, B, D, R)/dt per hour at GnRH ``gnrh_nm`` (the paper's equations, as written)."""
    free, bound, desensitized, releasable = state
    binding = p.kfb_per_nm_h * gnrh_nm * free
    return (
        p.kdf_per_h * desensitized - binding,
        binding - p.kbd_per_h * bound,
        p.kbd_per_h * bound - p.kdf_per_h * desensitized,
        p.s_lh_per_h - (p.a1_per_h + p.a2_per_h * bound) * releasable,
    )


def release_rate(bound: float, releasable_lh: float, p: GonadotrophParameters) -> float:
    """LH release rate, LH units per hour."""
    return (p.a1_per_h + p.a2_per_h * bound) * releasable_lh


@dataclass(frozen=True)
class GnrhBridge:
    """From predicted plasma gonadorelin (pg/mL) to the model's GnRH input (nM): a modelling choice.

    The paper drove ovine pituitary cells in a perifusion chamber with known concentrations; a
    patient's gonadotrophs see plasma that the exposure model predicts. The bridge is linear:
    ``nM = pg/mL × nm_per_pg_per_ml``. Assumptions (docs/pituitary.md): the pituitary sees the
    systemic plasma level (true of subcutaneous therapy, which bypasses the portal system); the
    cells' potency in vitro transfers unchanged, or up to the one calibration factor chosen.
    """

    nm_per_pg_per_ml: float
    name: str

    def nm(self, level_pg_per_ml: float) -> float:
        return level_pg_per_ml * self.nm_per_pg_per_ml

    @classmethod
    def molar(cls) -> GnrhBridge:
        """Plain unit conversion by gonadorelin's molar mass: no free parameter (the default)."""
        return cls(1.0 / PG_PER_ML_PER_NM, "molar")

    @classmethod
    def calibrated(cls, reference_peak_pg_per_ml: float, reference_nm: float) -> GnrhBridge:
        """Scale so that a reference plasma peak equals a concentration the paper used."""
        if reference_peak_pg_per_ml <= 0 or reference_nm <= 0:
            raise ValueError("a calibrated bridge needs a positive reference peak and level")
        return cls(
            reference_nm / reference_peak_pg_per_ml,
            f"calibrated ({reference_peak_pg_per_ml:.3g} pg/mL = {reference_nm:g} nM)",
        )


#: The default bridge: unit conversion alone.
MOLAR = GnrhBridge.molar()

#: The pulses the paper's perifusion protocol gave: 0.5 nM for 4 min (docs/pituitary.md).
PAPER_PULSE_NM = 0.5
PAPER_PULSE_MIN = 4.0


@dataclass(frozen=True)
class PulseResponse:
    """The predicted LH pulse that follows one delivered pulse.

    ``amplitude`` is the peak release rate in the pulse's window (its start to the next start)
    minus the rate at its start: the LH pulse an assay would see above the preceding baseline.
    ``stimulated_lh`` is the LH that bound receptor released in the window (a2·B·R integrated).
    Rates in LH units per hour, amounts in LH units; ``relative`` is the amplitude over the
    reference amplitude it was compared with (1.0 = as large), ``None`` without a reference.
    """

    start_min: float
    dose_ug: float
    duration_min: float
    window_min: float
    pre_release: float
    peak_release: float
    stimulated_lh: float
    relative: float | None

    @property
    def amplitude(self) -> float:
        return self.peak_release - self.pre_release
