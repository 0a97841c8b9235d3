"""Realistic field values of a US credit card agreement, drawn from a seeded random generator.

The original corpus is the CFPB's collection of credit card agreements: banks and credit unions
with their addresses, card products, APRs and fees in the wording of the "Schumer box", and
effective dates printed in many formats. Values are drawn from word lists here rather than from
Faker, so that a seed gives the same corpus on every machine and every library version.

Each value is the exact text printed on the page: its whitespace-separated words are the words
OCR must find. A ``"\\n"`` inside a value is a forced line break (an address block); the value's
truth text has a space there.
"""

from __future__ import annotations

import datetime
import random
from dataclasses import dataclass, field

AGREEMENT_DATE = "Agreement Effective Date"
APR_INTRO = "APR - Introductory"
APR_BALANCE_TRANSFERS = "APR - Balance Transfers"
APR_CASH_ADVANCES = "APR - Cash Advances"
APR_PURCHASES = "APR - Purchases"
APR_PENALTY = "APR - Penalty"
APR_GENERAL = "APR - General"
APR_OTHER = "APR - Other"
FEE_ANNUAL = "Fee - Annual"
FEE_BALANCE_TRANSFER = "Fee - Balance Transfer"
FEE_LATE = "Fee - Late Payment"
FEE_RETURNED = "Fee - Returned Payment"
FEE_FOREIGN = "Fee - Foreign Transaction"
FEE_OTHER = "Fee - Other"
CARD_NAME = "Card Name"
PROVIDER_ADDRESS = "Provider Address"
PROVIDER_NAME = "Provider Name"
MIN_PAYMENT = "Min Payment Calculation"
LOCAL_TERMS = "Local Terms"

_PLACES = (
    "Lakeview", "Riverbend", "Granite", "Summit", "Pioneer", "Heritage", "Cedar Valley", "Blue Ridge",
    "Prairie", "Harbor", "Keystone", "Evergreen", "Frontier", "Liberty", "Magnolia", "Sierra", "Great Plains",
    "Northwoods", "Coastal", "Red Rock", "Twin Rivers", "Silver Lake", "Oak Hill", "Bayou", "Tri-County",
    "Mountain West", "Gateway", "Chesapeake", "Canyon", "Heartland", "Lone Star", "Ozark", "Tidewater",
)  # fmt: skip
_SURNAMES = (
    "Whitmore", "Calloway", "Hastings", "Pemberton", "Brooks", "Ashford", "Delacroix", "Fairbanks",
    "Garrison", "Holloway", "Kingsley", "Merriweather", "Prescott", "Thornton", "Vance", "Wexford",
)  # fmt: skip
_BANK_KINDS = (
    "Bank", "National Bank", "Savings Bank", "State Bank", "Federal Credit Union", "Credit Union",
    "Community Credit Union", "Bank & Trust", "Trust Company", "Federal Savings Bank",
)  # fmt: skip
_PROGRAMS = (
    "Cash Rewards", "Everyday", "Travel Rewards", "Secured", "Student", "College", "Platinum", "Premier",
    "Classic", "Gold", "Select", "Preferred", "Elite", "Signature", "Horizon", "Compass", "Voyager",
    "Points Plus", "Low Rate", "Business Edge", "Home Town", "Hometown Rewards", "Real Rewards", "Share Secured",
)  # fmt: skip
_NETWORKS = (
    "Visa", "Mastercard", "Visa Signature", "World Mastercard", "World Elite Mastercard", "Visa Platinum",
    "Platinum Mastercard", "Visa Classic", "American Express",
)  # fmt: skip
_STREETS = (
    "Main", "Market", "Oak", "Maple", "Cedar", "Washington", "Lincoln", "Jefferson", "Commerce", "Financial",
    "Park", "Lake", "River", "Hill", "Church", "Broad", "Elm", "Pine", "Walnut", "Franklin", "Madison",
    "Second", "Third", "Corporate", "Liberty", "Union", "State", "Center",
)  # fmt: skip
_STREET_KINDS = (
    "Street", "St.", "Avenue", "Ave.", "Boulevard", "Blvd.", "Road", "Drive", "Parkway", "Way", "Plaza", "Center",
)  # fmt: skip
_CITIES = (
    ("Springfield", "IL", "627"), ("Columbus", "OH", "432"), ("Kansas City", "MO", "641"), ("Omaha", "NE", "681"),
    ("Boise", "ID", "837"), ("Richmond", "VA", "232"), ("Sioux Falls", "SD", "571"), ("Wilmington", "DE", "198"),
    ("Charlotte", "NC", "282"), ("Salt Lake City", "UT", "841"), ("Portland", "OR", "972"), ("Madison", "WI", "537"),
    ("Tulsa", "OK", "741"), ("Louisville", "KY", "402"), ("Albany", "NY", "122"), ("Des Moines", "IA", "503"),
    ("Little Rock", "AR", "722"), ("Austin", "TX", "787"), ("Jacksonville", "FL", "322"), ("Phoenix", "AZ", "850"),
    ("Denver", "CO", "802"), ("St. Louis", "MO", "631"), ("Pittsburgh", "PA", "152"), ("Baton Rouge", "LA", "708"),
    ("Birmingham", "AL", "352"), ("Fargo", "ND", "581"), ("Burlington", "VT", "054"), ("Manchester", "NH", "031"),
    ("Anchorage", "AK", "995"), ("Honolulu", "HI", "968"), ("Spokane", "WA", "992"), ("Lansing", "MI", "489"),
)  # fmt: skip
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_MIN_PAYMENTS = (
    "the greater of $25 or 1% of the New Balance plus all interest charges and late fees",
    "3% of the New Balance or $20, whichever is greater, plus any amount past due",
    "$15 or 2.5% of your balance, whichever is greater, plus any past due amount",
    "the sum of all interest and fees billed plus 1% of the principal balance, but not less than $35",
    "2% of the New Balance, rounded up to the next whole dollar, or $10, whichever is more",
)  # fmt: skip
_LOCAL_TERMS = (
    "Ohio Residents: The Ohio laws against discrimination require that all creditors make credit equally "
    "available to all creditworthy customers, and that credit reporting agencies maintain separate credit "
    "histories on each individual upon request.",
    "Married Wisconsin Residents: No provision of any marital property agreement, unilateral statement or "
    "court decree adversely affects our rights unless you give us a copy before credit is granted.",
    "California Residents: A married applicant may apply for a separate account. Applicants may receive a "
    "copy of the credit report used to evaluate this application.",
    "New York Residents: New York residents may contact the New York State Department of Financial Services "
    "to obtain a comparative listing of credit card rates, fees and grace periods.",
    "Texas Residents: If you have a complaint, first contact the card issuer. If the complaint is not "
    "resolved, you may contact the Texas Office of Consumer Credit Commissioner.",
)  # fmt: skip
# Fee phrases as printed, each with its normalized truth (what the money:USD rules write).
ANNUAL_FEES = (("$0", "0.00 USD"), ("None", "0.00 USD"), ("$39", "39.00 USD"), ("$49", "49.00 USD"),
               ("$95", "95.00 USD"), ("$99", "99.00 USD"), ("$450", "450.00 USD"))  # fmt: skip
BALANCE_TRANSFER_FEES = (
    ("Either $5 or 3% of the amount of each transfer, whichever is greater", "greater of 5.00 USD or 3.00%"),
    ("Either $10 or 4% of the amount of each transfer, whichever is greater", "greater of 10.00 USD or 4.00%"),
    ("3% of each balance transfer", "3.00%"),
    ("5% of each transfer ($5 minimum)", "greater of 5.00 USD or 5.00%"),
    ("$0", "0.00 USD"),
    ("None", "0.00 USD"),
)  # fmt: skip
LATE_FEES = (("Up to $40", "up to 40.00 USD"), ("Up to $41", "up to 41.00 USD"), ("$29", "29.00 USD"),
             ("$25", "25.00 USD"), ("Up to $35", "up to 35.00 USD"))  # fmt: skip
RETURNED_FEES = (("Up to $40", "up to 40.00 USD"), ("$25", "25.00 USD"), ("$35", "35.00 USD"),
                 ("Up to $29", "up to 29.00 USD"))  # fmt: skip
FOREIGN_FEES = (("None", "0.00 USD"), ("1% of each transaction in U.S. dollars", "1.00%"),
                ("3% of each transaction in U.S. dollars", "3.00%"), ("2%", "2.00%"))  # fmt: skip
OTHER_FEES = (  # (printed label, phrase, truth)
    ("Cash Advance Fee", "Either $10 or 5% of the amount of each cash advance, whichever is greater",
     "greater of 10.00 USD or 5.00%"),
    ("Cash Advance Fee", "$10 or 3% of each cash advance, whichever is greater", "greater of 10.00 USD or 3.00%"),
    ("Over-the-Credit-Limit Fee", "Up to $29", "up to 29.00 USD"),
    ("Document Copy Fee", "$5 per copy", "5.00 USD"),
    ("Expedited Card Fee", "$15 for each expedited card", "15.00 USD"),
)  # fmt: skip
_OTHER_APR_KINDS = ("Overdraft Protection", "Plan It", "Promotional Balance Transfer", "Convenience Check")


@dataclass(frozen=True)
class EffectiveDate:
    """The agreement's effective date: the text printed and its ISO form."""

    text: str
    iso: str


@dataclass(frozen=True)
class AgreementValues:
    """Every field value of one agreement; optional fields the agreement lacks are absent.

    ``values`` maps a field name to its printed text; ``card_names`` holds the one or two card
    products the agreement covers (Card Name is a multi-value field); ``labels`` gives the printed
    label of the fields whose label varies ("Cash Advance Fee" for Fee - Other).
    """

    provider: str
    address: str
    card_names: tuple[str, ...]
    date: EffectiveDate
    values: dict[str, str] = field(default_factory=dict)
    normalized: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)

    def has(self, name: str) -> bool:
        """Tell whether the agreement has a value for field ``name``."""
        return name in self.values


def draw_provider(rng: random.Random) -> str:
    """A bank or credit union name in the style of the CFPB corpus (Commerce Bank, OMNI Community Credit Union)."""
    style = rng.random()
    if style < 0.15:
        return f"{rng.choice(_SURNAMES)} {rng.choice(('Bank & Trust', 'Trust Company', 'Bank'))}"
    if style < 0.25:
        return f"First National Bank of {rng.choice(_CITIES)[0]}"
    name = f"{rng.choice(_PLACES)} {rng.choice(_BANK_KINDS)}"
    if name.endswith(("National Bank", "State Bank")) and rng.random() < 0.4:
        name += ", N.A."
    return name


def draw_address(rng: random.Random) -> str:
    """A US mailing address; a newline separates the street line from the city line."""
    city, state, zip_prefix = rng.choice(_CITIES)
    zip_code = f"{zip_prefix}{rng.randrange(100):02d}"
    if rng.random() < 0.3:
        zip_code += f"-{rng.randrange(10000):04d}"
    if rng.random() < 0.2:
        street = f"P.O. Box {rng.randrange(100, 99999)}"
    else:
        street = f"{rng.randrange(1, 9999)} {rng.choice(_STREETS)} {rng.choice(_STREET_KINDS)}"
        if rng.random() < 0.3:
            street += f", {rng.choice(('Suite', 'Floor', 'Mail Stop'))} {rng.randrange(2, 900)}"
    return f"{street},\n{city}, {state} {zip_code}"


def draw_card_names(rng: random.Random) -> tuple[str, ...]:
    """One card product, or two related ones (an agreement often covers a family of cards)."""
    program = rng.choice(_PROGRAMS)
    suffix = rng.choice(("", "", " Card", " Credit Card"))
    first = f"{program} {rng.choice(_NETWORKS)}{suffix}"
    if rng.random() < 0.7:
        return (first,)
    second = f"{program} {rng.choice([n for n in _NETWORKS if n not in first])}{suffix}"
    return (first, second)


def format_date(date: datetime.date, style: int) -> str:
    """Print a date in one of the styles seen in agreements (``style`` indexes ``DATE_STYLES``)."""
    month = _MONTHS[date.month - 1]
    day, year = date.day, date.year
    formats = (
        f"{month} {day}, {year}",
        f"{month[:3]}. {day}, {year}" if month != "May" else f"May {day}, {year}",
        f"{date.month:02d}/{day:02d}/{year}",
        f"{date.month}/{day}/{year % 100:02d}",
        date.isoformat(),
        f"{day} {month} {year}",
        f"{month} {year}",
        f"{date.month:02d}/{year}",
        f"{date.month:02d}-{day:02d}-{year}",
        f"{month} {_ordinal(day)}, {year}",
        f"{month[:3].upper()} {day:02d} {year}",
    )
    return formats[style]


DATE_STYLES = 11
_MONTH_ONLY_STYLES = (6, 7)


def _ordinal(day: int) -> str:
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def draw_date(rng: random.Random) -> EffectiveDate:
    """An effective date between 2015 and 2023 in a random print style; ISO is YYYY-MM for month-only styles."""
    date = datetime.date(2015, 1, 1) + datetime.timedelta(days=rng.randrange(9 * 365))
    style = rng.randrange(DATE_STYLES)
    if style in _MONTH_ONLY_STYLES:
        date = date.replace(day=1)
        return EffectiveDate(format_date(date, style), date.isoformat()[:7])
    return EffectiveDate(format_date(date, style), date.isoformat())


def _rate(rng: random.Random, low: float, high: float) -> float:
    return round(rng.uniform(low, high) * 4) / 4 - 0.01 if rng.random() < 0.5 else round(rng.uniform(low, high), 2)


def _percent(rate: float) -> str:
    return f"{rate:.2f}%"


def _draw_aprs(rng: random.Random, values: dict[str, str], normalized: dict[str, str]) -> None:
    """APR values: one general APR, or separate purchase / transfer / cash APRs (a single rate or a range)."""

    def put(name: str, low: float, high: float, allow_range: bool = True) -> None:
        rate = _rate(rng, low, high)
        if allow_range and rng.random() < 0.35:
            top = rate + rng.choice((8, 10, 12))
            values[name] = f"{_percent(rate)} to {_percent(top)}"
            normalized[name] = f"{rate:.2f}-{top:.2f}"
        else:
            values[name], normalized[name] = _percent(rate), f"{rate:.2f}"

    if rng.random() < 0.4:
        rate = rng.choice((0.0, 0.0, 0.99, 1.99, 2.99, 3.99))
        values[APR_INTRO] = rng.choice(("0%", "0.00%")) if rate == 0 else _percent(rate)
        normalized[APR_INTRO] = f"{rate:.2f}"
    if rng.random() < 0.2:
        put(APR_GENERAL, 7.99, 24.99)
    else:
        put(APR_PURCHASES, 8.99, 24.99)
        if rng.random() < 0.8:
            put(APR_BALANCE_TRANSFERS, 8.99, 24.99)
        if rng.random() < 0.8:
            put(APR_CASH_ADVANCES, 17.99, 29.99, allow_range=False)
    if rng.random() < 0.6:
        put(APR_PENALTY, 26.99, 29.99, allow_range=False)
    if rng.random() < 0.2:
        put(APR_OTHER, 9.99, 21.99, allow_range=False)


def _draw_fees(rng: random.Random, values: dict[str, str], normalized: dict[str, str], labels: dict[str, str]) -> None:
    """Fee values and their normalized truth; Min Payment Calculation and Local Terms, which have none."""
    label, other_fee, other_truth = rng.choice(OTHER_FEES)
    labels[FEE_OTHER] = label
    annual = rng.choice(ANNUAL_FEES)
    optional = (
        (FEE_ANNUAL, 0.9, annual),
        (FEE_BALANCE_TRANSFER, 0.7, rng.choice(BALANCE_TRANSFER_FEES)),
        (FEE_LATE, 0.95, rng.choice(LATE_FEES)),
        (FEE_RETURNED, 0.85, rng.choice(RETURNED_FEES)),
        (FEE_FOREIGN, 0.7, rng.choice(FOREIGN_FEES)),
        (FEE_OTHER, 0.8, (other_fee, other_truth)),
        (MIN_PAYMENT, 0.7, (rng.choice(_MIN_PAYMENTS), None)),
        (LOCAL_TERMS, 0.5, (rng.choice(_LOCAL_TERMS), None)),
    )
    for name, share, (value, truth) in optional:
        if rng.random() < share:
            values[name] = value
            if truth is not None:
                normalized[name] = truth


def draw_agreement_values(rng: random.Random) -> AgreementValues:
    """All field values of one agreement.

    >>> values = draw_agreement_values(random.Random(7))
    >>> values.values[PROVIDER_NAME] == values.provider
    True
    """
    provider, address, cards, date = draw_provider(rng), draw_address(rng), draw_card_names(rng), draw_date(rng)
    values = {PROVIDER_NAME: provider, PROVIDER_ADDRESS: address, AGREEMENT_DATE: date.text, CARD_NAME: cards[0]}
    normalized = {AGREEMENT_DATE: date.iso}
    labels = {APR_OTHER: f"{rng.choice(_OTHER_APR_KINDS)} APR"}
    _draw_aprs(rng, values, normalized)
    _draw_fees(rng, values, normalized, labels)
    return AgreementValues(provider, address, cards, date, values, normalized, labels)


def truth_text(value: str) -> str:
    """The value as OCR words joined by single spaces (forced line breaks become spaces)."""
    return " ".join(value.split())
