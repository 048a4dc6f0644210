"""Cost estimates from usage, with settings overriding the default prices."""

from __future__ import annotations

import pytest

from bot.model import Usage
from bot.pricing import DEFAULT_PRICES, estimate_cost, prices_for
from bot.settings import Settings

USAGE = Usage(
    input_tokens=1_100, input_image_tokens=1_000, input_text_tokens=100, output_tokens=4_000, total_tokens=5_100
)


def test_gpt_image_2_default_prices() -> None:
    # 100 text x $5 + 1000 image x $8 + 4000 output x $30, per million
    assert estimate_cost("gpt-image-2", USAGE) == pytest.approx(0.1285)


def test_snapshot_priced_as_its_model() -> None:
    assert estimate_cost("gpt-image-2-2026-04-21", USAGE) == estimate_cost("gpt-image-2", USAGE)


def test_unknown_model_or_usage_is_none() -> None:
    assert estimate_cost("gpt-image-9", USAGE) is None
    assert estimate_cost("gpt-image-2", None) is None


def test_newer_gpt_image_2_models_are_estimated_at_gpt_image_2_prices() -> None:
    # no published prices yet: the workspace cost cap must still count them
    assert estimate_cost("gpt-image-2.5-sunburst", USAGE) == estimate_cost("gpt-image-2", USAGE)
    assert estimate_cost("gpt-image-2.6-flare-2026-09-08", USAGE) == estimate_cost("gpt-image-2", USAGE)


def test_overrides_from_settings() -> None:
    settings = Settings.from_env(
        {
            "MERGEBOT_PRICES": '{"gpt-image-2": {"output_image": 40}, '
            '"gpt-image-2.5-sunburst": {"input_text": 1, "input_image": 2, "output_image": 3}}'
        }
    )
    assert estimate_cost("gpt-image-2", USAGE, settings.prices) == pytest.approx(0.1685)
    assert estimate_cost("gpt-image-2.5-sunburst-2026-09-08", USAGE, settings.prices) == pytest.approx(0.0141)
    assert DEFAULT_PRICES["gpt-image-2"]["output_image"] == 30.0  # the default table is untouched


def test_partial_override_of_a_newer_model_fills_in_from_gpt_image_2() -> None:
    prices = prices_for("gpt-image-2.6-flare", {"gpt-image-2.6-flare": {"output_image": 45}})
    assert prices == {"input_text": 5.0, "input_image": 8.0, "output_image": 45}


def test_usage_without_split_is_priced_as_image_input() -> None:
    usage = Usage(input_tokens=1_000, output_tokens=0, total_tokens=1_000)
    assert estimate_cost("gpt-image-1-mini", usage) == pytest.approx(0.0025)
