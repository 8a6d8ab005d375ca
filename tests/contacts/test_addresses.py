from __future__ import annotations

import pytest

from contacts.addresses import normalize_any, normalize_email, normalize_phone


@pytest.mark.parametrize(
    "raw",
    [
        "(415) 555-0100",
        "+1 415-555-0100",
        "+14155550100",
        "whatsapp:+14155550100",
        "415.555.0100",
        "WhatsApp:+1 (415) 555-0100",
    ],
)
def test_one_phone_number_written_many_ways_is_one_address(raw: str) -> None:
    assert normalize_phone(raw).address == "+14155550100"
    assert normalize_phone(raw).valid


def test_default_region_is_used_for_numbers_without_country_code(settings) -> None:
    settings.DEFAULT_PHONE_REGION = "GB"
    assert normalize_phone("020 7183 8750").address == "+442071838750"


@pytest.mark.parametrize("raw", ["hello", "AMAZON", "12", "", "anonymous", "+266696687"])
def test_something_that_is_not_a_phone_number_is_kept_raw_and_flagged(raw: str) -> None:
    normalized = normalize_phone(raw)
    assert not normalized.valid
    assert normalized.address == raw.strip()


def test_email_is_case_insensitive() -> None:
    assert normalize_email("  Dana.Whitaker@Example.COM ").address == "dana.whitaker@example.com"


def test_normalize_any_tells_email_from_phone() -> None:
    assert normalize_any("Dana@Example.com").kind == "email"
    assert normalize_any("whatsapp:+14155550100").address == "+14155550100"
