"""UCUM (http://unitsofmeasure.org) unit expressions: the full grammar and a table of unit atoms.

The grammar of UCUM §2 (terms joined by ``.`` and ``/``, parentheses, exponents, integer factors,
``{annotations}``, prefixes on metric atoms) is implemented completely, so a malformed expression is
reported invalid. The atom table covers the units of UCUM's essence that the testbed knows with
certainty; an atom outside it gives "cannot be checked" (None), never a false error.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

PREFIXES = (
    "da",
    "Ki",
    "Mi",
    "Gi",
    "Ti",  # two-letter prefixes first: longest match
    "Y",
    "Z",
    "E",
    "P",
    "T",
    "G",
    "M",
    "k",
    "h",
    "d",
    "c",
    "m",
    "u",
    "n",
    "p",
    "f",
    "a",
    "z",
    "y",
)

_METRIC = (
    "m s g rad K C cd mol sr Hz N Pa J W A V F Ohm S Wb Cel T H lm lx Bq Gy Sv l L ar t bar u eV pc "
    "[c] [h] [k] [eps_0] [mu_0] [e] [m_e] [m_p] [G] [g] [ly] gf Ky Gal dyn erg P St Bi Mx G Oe Gb sb Lmb "
    "ph Ci R RAD REM cal_[15] cal_[20] cal_m cal_IT cal_th cal tex m[H2O] m[Hg] eq osm g% kat U [iU] [IU] "
    "Np B B[SPL] B[V] B[mV] B[uV] B[10.nV] B[W] B[kW] st mho bit By Bd"
)
_NON_METRIC = (
    "10* 10^ [pi] % [ppth] [ppm] [ppb] [pptr] gon deg ' '' min h d a_t a_j a_g a wk mo_s mo_j mo_g mo "
    "AU atm [in_i] [ft_i] [yd_i] [mi_i] [fth_i] [nmi_i] [kn_i] [sin_i] [sft_i] [syd_i] [cin_i] [cft_i] "
    "[cyd_i] [bf_i] [cr_i] [mil_i] [cml_i] [hd_i] [ft_us] [yd_us] [in_us] [rd_us] [ch_us] [lk_us] "
    "[rch_us] [rlk_us] [fth_us] [fur_us] [mi_us] [acr_us] [srd_us] [smi_us] [sct] [twp] [mil_us] "
    "[in_br] [ft_br] [rd_br] [ch_br] [lk_br] [fth_br] [pc_br] [yd_br] [mi_br] [nmi_br] [kn_br] [acr_br] "
    "[gal_us] [bbl_us] [qt_us] [pt_us] [gil_us] [foz_us] [fdr_us] [min_us] [crd_us] [bu_us] [gal_wi] "
    "[pk_us] [dqt_us] [dpt_us] [tbs_us] [tsp_us] [cup_us] [foz_m] [cup_m] [tsp_m] [tbs_m] [gal_br] "
    "[pk_br] [bu_br] [qt_br] [pt_br] [gil_br] [foz_br] [fdr_br] [min_br] [gr] [lb_av] [oz_av] [dr_av] "
    "[scwt_av] [lcwt_av] [ston_av] [lton_av] [stone_av] [lbf_av] [pwt_tr] [oz_tr] [lb_tr] [sc_ap] "
    "[dr_ap] [oz_ap] [lb_ap] [oz_m] [lne] [pnt] [pca] [pnt_pr] [pca_pr] [pied] [pouce] [ligne] [didot] "
    "[cicero] [degF] [degR] [degRe] [Cal] [Btu_39] [Btu_59] [Btu_60] [Btu_m] [Btu_IT] [Btu_th] [Btu] "
    "[HP] [den] [in_i'H2O] [in_i'Hg] [PRU] [wood'U] [diop] [p'diop] %[slope] [mesh_i] [Ch] [drp] "
    "[hnsf'U] [MET] [hp'_X] [hp'_C] [hp'_M] [hp'_Q] [hp_X] [hp_C] [hp_M] [hp_Q] [kp_X] [kp_C] [kp_M] "
    "[kp_Q] [pH] [S] [HPF] [LPF] [arb'U] [USP'U] [GPL'U] [MPL'U] [APL'U] [beth'U] [anti'Xa'U] [todd'U] "
    "[dye'U] [smgy'U] [bdsk'U] [ka'U] [knk'U] [mclg'U] [tb'U] [CCID_50] [TCID_50] [EID_50] [PFU] [FFU] "
    "[CFU] [IR] [BAU] [AU] [Amb'a'1'U] [PNU] [Lf] [D'ag'U] [FEU] [ELU] [EU] Ao att [psi] circ sph "
    "[car_m] [car_Au] [smoot] bit_s"
)
# Atoms whose "metric" flag (may it take a prefix?) the table does not assert.
_UNSURE = "b"

ATOMS: dict[str, bool | None] = {
    **{a: True for a in _METRIC.split()},
    **{a: False for a in _NON_METRIC.split()},
    **{a: None for a in _UNSURE.split()},
}

_SPECIAL = frozenset('"()+-./={}[]')


class UcumSyntaxError(ValueError):
    """A unit expression that does not follow the UCUM grammar."""


@dataclass(frozen=True, slots=True)
class UcumResult:
    """The verdict on one unit expression: valid True/False, or None when an atom is not in the table."""

    valid: bool | None
    message: str


@lru_cache(maxsize=8192)
def check_ucum(expression: str) -> UcumResult:
    """Check a UCUM unit expression: grammar always, atoms against the table.

    Args:
        expression: The case-sensitive UCUM code, such as ``mg/dL`` or ``10*3/uL``.
    """
    try:
        symbols = _Parser(expression).parse()
    except UcumSyntaxError as exc:
        return UcumResult(False, f"'{expression}' is not a valid UCUM expression: {exc}.")
    unknown: list[str] = []
    for sym in symbols:
        verdict = _atom_verdict(sym)
        if verdict is False:
            return UcumResult(
                False,
                f"'{expression}' is not a valid UCUM expression: the unit '{sym}' "
                "puts a prefix on a unit that does not take prefixes.",
            )
        if verdict is None:
            unknown.append(sym)
    if unknown:
        names = ", ".join(f"'{u}'" for u in dict.fromkeys(unknown))
        return UcumResult(
            None,
            f"'{expression}' follows the UCUM grammar but the unit symbol(s) {names} "
            "are not in the testbed's UCUM atom table, so it cannot be fully checked "
            "offline.",
        )
    return UcumResult(True, f"'{expression}' is a valid UCUM expression.")


def _atom_verdict(symbol: str) -> bool | None:
    if symbol in ATOMS:
        return True
    flags = [ATOMS[symbol[len(p) :]] for p in PREFIXES if symbol.startswith(p) and symbol[len(p) :] in ATOMS]
    if True in flags:
        return True
    if flags and all(f is False for f in flags):
        return False
    return None


class _Parser:
    """Recursive descent over ``main-term ::= '/' term | term``; collects the unit symbols used."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.symbols: list[str] = []

    def parse(self) -> list[str]:
        if not self.text:
            raise UcumSyntaxError("it is empty")
        if self._peek() == "/":
            self.pos += 1
        self._term()
        if self.pos != len(self.text):
            raise UcumSyntaxError(f"unexpected '{self.text[self.pos]}' at position {self.pos + 1}")
        return self.symbols

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _term(self) -> None:
        self._component()
        while self._peek() in (".", "/"):
            self.pos += 1
            self._component()

    def _component(self) -> None:
        ch = self._peek()
        if not ch:
            raise UcumSyntaxError("a unit is missing at the end")
        if ch == "(":
            self.pos += 1
            self._term()
            if self._peek() != ")":
                raise UcumSyntaxError(f"missing ')' at position {self.pos + 1}")
            self.pos += 1
            self._annotation(optional=True)
            return
        if ch == "{":
            self._annotation(optional=False)
            return
        start = self.pos
        run = self._symbol_run()
        if not run:
            raise UcumSyntaxError(f"unexpected '{ch}' at position {start + 1}")
        if run.isdigit():
            if self._peek() in ("+", "-"):
                raise UcumSyntaxError(f"a number cannot take an exponent ('{run}{self._peek()}...')")
            self._annotation(optional=True)
            return
        symbol = run
        if self._peek() in ("+", "-"):
            sign_pos = self.pos
            self.pos += 1
            if not self._digits():
                raise UcumSyntaxError(f"a sign must be followed by digits at position {sign_pos + 1}")
        else:
            symbol = run.rstrip("0123456789")
        if symbol[0].isdigit() and symbol not in ATOMS:
            raise UcumSyntaxError(f"'{run}' mixes a number and a unit: join them with '.'")
        self.symbols.append(symbol)
        self._annotation(optional=True)

    def _digits(self) -> str:
        start = self.pos
        while self._peek().isdigit() and self._peek().isascii():
            self.pos += 1
        return self.text[start : self.pos]

    def _symbol_run(self) -> str:
        start = self.pos
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == "[":
                end = self.text.find("]", self.pos + 1)
                if end < 0:
                    raise UcumSyntaxError(f"'[' at position {self.pos + 1} is never closed")
                inner = self.text[self.pos + 1 : end]
                if not inner or any(c in "[{}" or not ("!" <= c <= "~") for c in inner):
                    raise UcumSyntaxError(f"bad content in square brackets '[{inner}]'")
                self.pos = end + 1
                continue
            if ch == "]":
                raise UcumSyntaxError(f"']' at position {self.pos + 1} was never opened")
            if ch in _SPECIAL or not ("!" <= ch <= "~"):
                if not ("!" <= ch <= "~"):
                    raise UcumSyntaxError(f"character {ch!r} at position {self.pos + 1} is not allowed")
                break
            self.pos += 1
        return self.text[start : self.pos]

    def _annotation(self, *, optional: bool) -> None:
        if self._peek() != "{":
            if not optional:
                raise UcumSyntaxError(f"expected '{{' at position {self.pos + 1}")
            return
        end = self.text.find("}", self.pos + 1)
        if end < 0:
            raise UcumSyntaxError(f"'{{' at position {self.pos + 1} is never closed")
        inner = self.text[self.pos + 1 : end]
        if any(c == "{" or not (" " <= c <= "~") for c in inner):
            raise UcumSyntaxError(
                f"annotation '{{{inner}}}' holds '{{' or a character that is not printable ASCII"
            )
        self.pos = end + 1
