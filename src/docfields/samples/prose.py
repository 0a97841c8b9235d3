"""The words around the values: section titles, boilerplate paragraphs and sentences that carry a value.

Real agreements bury most values in pages of legal prose, and a model must learn to tell the
APR in "Your APR for purchases is 19.99%" from the rate in a boilerplate example. Sentences are
written so that a value never touches punctuation that is not part of it.
"""

from __future__ import annotations

import random

from docfields.samples.flow import Span
from docfields.samples.values import (
    AGREEMENT_DATE,
    APR_BALANCE_TRANSFERS,
    APR_CASH_ADVANCES,
    APR_GENERAL,
    APR_INTRO,
    APR_OTHER,
    APR_PENALTY,
    APR_PURCHASES,
    CARD_NAME,
    FEE_ANNUAL,
    FEE_BALANCE_TRANSFER,
    FEE_FOREIGN,
    FEE_LATE,
    FEE_OTHER,
    FEE_RETURNED,
    MIN_PAYMENT,
    PROVIDER_ADDRESS,
    PROVIDER_NAME,
    AgreementValues,
)

_BOILERPLATE = {
    "Payments": (
        "You may pay all or part of your balance at any time.",
        "Payments must be made in U.S. dollars by check drawn on a U.S. bank or by electronic transfer.",
        "Payments received after 5:00 p.m. Eastern Time will be credited on the next business day.",
        "We apply payments up to the minimum payment first to the balance with the lowest rate.",
        "Amounts paid in excess of the minimum payment are applied to the balance with the highest rate.",
        "We may accept late or partial payments without losing any of our rights under this Agreement.",
    ),
    "How We Calculate Interest": (
        "We figure the interest charge on your account by applying the periodic rate to the average daily balance.",
        "To get the average daily balance, we take the beginning balance of your account each day and add new charges.",
        "We then subtract any payments or credits and any unpaid interest or other finance charges.",
        "Interest on cash advances begins on the date of the transaction.",
        "You will not be charged interest on purchases if you pay your entire balance by the due date each month.",
        "Variable rates are based on the Prime Rate published in The Wall Street Journal.",
    ),
    "Your Billing Rights": (
        "This notice tells you about your rights and our responsibilities under the Fair Credit Billing Act.",
        "If you think there is an error on your statement, write to us as soon as possible.",
        "You must contact us within 60 days after the error appeared on your statement.",
        "While we investigate whether or not there has been an error, we cannot try to collect the amount in question.",
        "Within 90 days of receiving your letter, we must correct the error or explain why the bill is correct.",
        "If you are dissatisfied with goods or services you purchased, try to correct the problem with the merchant.",
    ),
    "Changes to This Agreement": (
        "We may change the terms of this Agreement at any time, subject to applicable law.",
        "We will give you advance written notice of any change when required by law.",
        "Changes will apply to new transactions and, where permitted, to existing balances.",
        "You may reject certain changes by notifying us in writing before the effective date of the change.",
    ),
    "Default": (
        "You will be in default if you fail to make any payment when due.",
        "You will also be in default if you exceed your credit limit or become insolvent.",
        "If you are in default, we may close your account and require immediate payment of the full balance.",
        "We may also take any other action permitted by law, including collection of reasonable attorney fees.",
    ),
    "Credit Reports": (
        "You authorize us to obtain credit reports about you when you apply and while your account is open.",
        "We may report information about your account to credit bureaus.",
        "Late payments, missed payments, or other defaults on your account may be reflected in your credit report.",
        "If you believe we reported inaccurate information, write to us and tell us what is wrong.",
    ),
    "Authorized Users": (
        "You may ask us to issue cards to other persons, who become authorized users of the account.",
        "You are responsible for all transactions made by authorized users, including transactions you did not intend.",
        "You must notify us to remove an authorized user; we may need to close the account and issue new cards.",
    ),
    "Lost or Stolen Cards": (
        "Notify us immediately if your card is lost or stolen or if you suspect unauthorized use.",
        "You will not be liable for unauthorized use that occurs after you notify us.",
        "In any case, your liability for unauthorized use will not exceed fifty dollars.",
    ),
    "Governing Law": (
        "This Agreement is governed by federal law and, where not preempted, the law of the state where we are.",
        "If any part of this Agreement is found to be invalid, the remaining parts will stay in effect.",
        "Our failure to exercise any right does not waive that right.",
    ),
    "Arbitration": (
        "Please read this provision carefully because it affects your rights.",
        "Any claim or dispute between you and us may be resolved by binding arbitration.",
        "Arbitration replaces the right to go to court, including the right to a jury trial.",
        "You may opt out of this provision by sending us written notice within 30 days after the account is opened.",
        "Claims filed as class actions are not permitted under this provision.",
    ),
    "Closing Your Account": (
        "You may close your account at any time by notifying us in writing or by telephone.",
        "We may close or suspend your account at any time for any reason permitted by law.",
        "If your account is closed, you must still pay all amounts you owe under this Agreement.",
    ),
}  # fmt: skip


def section_titles(rng: random.Random) -> list[str]:
    """The boilerplate sections in a random order."""
    titles = list(_BOILERPLATE)
    rng.shuffle(titles)
    return titles


def boilerplate_paragraph(title: str, rng: random.Random) -> str:
    """Two to five sentences of a boilerplate section."""
    sentences = _BOILERPLATE[title]
    return " ".join(rng.sample(sentences, min(len(sentences), rng.randint(2, 5))))


def _around(rng: random.Random, field: str, value: str, options: tuple[tuple[str, str], ...]) -> list[Span]:
    before, after = rng.choice(options)
    return [Span(before), Span(value, field), Span(after)]


def field_sentence(field: str, agreement: AgreementValues, rng: random.Random) -> list[Span]:
    """A sentence of prose that carries the value of ``field`` (which the agreement has)."""
    value = agreement.values[field].replace("\n", " ")
    options = _SENTENCES.get(field)
    if options is not None:
        return _around(rng, field, value, options)
    if field in (FEE_OTHER, APR_OTHER):
        label = agreement.labels[field]
        return [Span(f"{label}: "), Span(value, field), Span(" as shown in your account opening disclosures.")]
    return [Span(value, field)]  # long values (local terms) stand alone


_SENTENCES: dict[str, tuple[tuple[str, str], ...]] = {
    APR_PURCHASES: (
        ("The Annual Percentage Rate for purchases is ", " and will vary with the market based on the Prime Rate."),
        ("Your APR for purchases will be ", " based on your creditworthiness when you open your account."),
    ),
    APR_BALANCE_TRANSFERS: (
        ("Balance transfers are charged an APR of ", " which varies with the market."),
        ("The APR for balance transfers is ", " after any promotional period ends."),
    ),
    APR_CASH_ADVANCES: (
        ("Cash advances accrue interest at an APR of ", " from the date of each transaction."),
        ("The Annual Percentage Rate for cash advances is ", " and will vary with the market."),
    ),
    APR_INTRO: (
        ("We may offer an introductory APR of ", " for the first 12 billing cycles after you open your account."),
        ("An introductory rate of ", " applies to purchases made in the first 6 months."),
    ),
    APR_PENALTY: (
        ("If you make a late payment, we may apply a Penalty APR of up to ", " to all balances on your account."),
        ("A Penalty APR of ", " may apply if you pay late or your payment is returned."),
    ),
    APR_GENERAL: (
        ("All balances, including purchases and cash advances, accrue interest at an APR of ", " per year."),
        ("The Annual Percentage Rate on your account is ", " for all transactions."),
    ),
    FEE_ANNUAL: (("Annual Fee: ", " (billed on your account anniversary)"), ("Annual Membership Fee: ", " ")),
    FEE_BALANCE_TRANSFER: (("Balance Transfer Fee: ", " for each balance transfer posted to your account."),),
    FEE_LATE: (("Late Payment Fee: ", " if your payment is not received by the due date."),),
    FEE_RETURNED: (("Returned Payment Fee: ", " each time a payment is returned unpaid for any reason."),),
    FEE_FOREIGN: (("Foreign Transaction Fee: ", " for transactions made outside the United States."),),
    MIN_PAYMENT: (
        ("Each month you must pay at least the Minimum Payment Due, which is ", " as shown on your statement."),
        ("Your minimum payment will be ", " for each billing cycle."),
    ),
    AGREEMENT_DATE: (
        ("This Agreement is effective ", " and replaces all prior agreements for your account."),
        ("Effective Date: ", " "),
    ),
    PROVIDER_NAME: (
        ('In this Agreement, "we", "us" and "our" mean ', " and its successors and assigns."),
        ("This Agreement governs your credit card account with ", " and any card we issue to you."),
    ),
    PROVIDER_ADDRESS: (
        ("Send billing error notices and inquiries to ", " or call the number on your statement."),
        ("Mail your payments to ", " using the envelope provided."),
    ),
    CARD_NAME: (
        ("This Agreement applies to your ", " account and every card issued on it."),
        ("Thank you for choosing the ", " from us."),
    ),
}  # fmt: skip


def card_sentence(card: str) -> list[Span]:
    """A sentence naming a card product (Card Name is multi-valued: every card gets one)."""
    return [Span("This Agreement applies to your "), Span(card, CARD_NAME), Span(" account and every card on it.")]
