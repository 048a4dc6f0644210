"""The capability table refuses what a model would refuse, with messages a person can act on."""

from __future__ import annotations

import pytest

from bot.capabilities import MODELS, RETIRED, caps_for, check_request
from bot.errors import NoImages, PromptTooLong, TooManyImages, UnsupportedOption
from bot.model import MergeOptions


def options(**changes: object) -> MergeOptions:
    return MergeOptions(**{"prompt": "merge them", **changes})  # type: ignore[arg-type]


def test_every_current_model_has_caps() -> None:
    expected = {
        "gpt-image-2",
        "gpt-image-2-2026-04-21",
        "gpt-image-2.5-sunburst",
        "gpt-image-2.5-sunburst-2026-09-08",
        "gpt-image-2.5-flare",
        "gpt-image-2.5-flare-2026-09-08",
        "gpt-image-2.6-sunburst",
        "gpt-image-2.6-flare",
        "gpt-image-1.5",
        "gpt-image-1-mini",
        "chatgpt-image-latest",
    }
    assert set(MODELS) == expected
    for name in expected:
        caps = caps_for(name)
        # the SDK says "up to 16 images" for every model but the undocumented gpt-image-2.6-*
        assert caps.max_input_images == (1 if name.startswith("gpt-image-2.6") else 16)
        assert caps.max_prompt_chars == 32_000
        assert caps.partial_images(5) == 3
        assert caps.partial_images(-1) == 0


def test_snapshots_share_their_model_caps() -> None:
    assert caps_for("gpt-image-2-2026-04-21") is caps_for("gpt-image-2")
    assert caps_for("gpt-image-2.5-flare-2026-09-08") is caps_for("gpt-image-2.5-sunburst")


@pytest.mark.parametrize(
    ("model", "replacement"),
    [("gpt-image-1", "gpt-image-2.5-sunburst"), ("dall-e-2", "gpt-image-2"), ("dall-e-3", "gpt-image-2")],
)
def test_retired_models_name_their_replacement(model: str, replacement: str) -> None:
    assert model in RETIRED
    with pytest.raises(UnsupportedOption) as caught:
        caps_for(model)
    assert replacement in caught.value.user_message
    assert model in caught.value.user_message


def test_unknown_model_lists_the_choices() -> None:
    with pytest.raises(UnsupportedOption, match="Unknown image model 'gpt-imag-2'") as caught:
        caps_for("gpt-imag-2")
    assert "gpt-image-2" in caught.value.user_message


def test_defaults_pass_for_every_model() -> None:
    for name in MODELS:
        check_request(options(model=name), 1)
        check_request(options(model=name), caps_for(name).max_input_images)


def test_input_fidelity_refused_by_gpt_image_2_with_the_way_out() -> None:
    with pytest.raises(UnsupportedOption) as caught:
        check_request(options(model="gpt-image-2", input_fidelity="high"), 1)
    assert caught.value.user_message == "gpt-image-2 does not take input_fidelity; drop it or pick gpt-image-1.5."
    for model in ("gpt-image-2.5-flare", "gpt-image-2.6-sunburst"):
        with pytest.raises(UnsupportedOption, match="does not take input_fidelity"):
            check_request(options(model=model, input_fidelity="low"), 1)


def test_input_fidelity_per_model() -> None:
    check_request(options(model="gpt-image-1.5", input_fidelity="high"), 2)
    check_request(options(model="gpt-image-1-mini", input_fidelity="low"), 2)
    with pytest.raises(UnsupportedOption, match="takes input_fidelity low only"):
        check_request(options(model="gpt-image-1-mini", input_fidelity="high"), 2)


def test_transparent_background_needs_png_or_webp() -> None:
    check_request(options(background="transparent", output_format="png"), 1)
    check_request(options(background="transparent", output_format="webp"), 1)
    with pytest.raises(UnsupportedOption, match="transparent background needs png or webp output, not jpeg"):
        check_request(options(background="transparent", output_format="jpeg"), 1)


def test_gpt_image_2_6_is_conservative_about_transparency() -> None:
    with pytest.raises(UnsupportedOption, match="does not take a transparent background") as caught:
        check_request(options(model="gpt-image-2.6-flare", background="transparent"), 1)
    assert "gpt-image-2" in caught.value.user_message


@pytest.mark.parametrize("size", ["auto", "1024x1024", "1536x1024", "1024x1536", "1536x864", "3840x2160", "2160x3840"])
def test_flexible_sizes_accepted(size: str) -> None:
    check_request(options(model="gpt-image-2", size=size), 1)


@pytest.mark.parametrize(
    ("size", "reason"),
    [
        ("1000x1000", "multiples of 16 (try 1008x1008)"),
        ("3072x1008", "aspect ratio must be between 1:3 and 3:1"),
        ("4096x2304", "largest size it makes is 3840x2160"),
        ("3840x2176", "largest size it makes is 3840x2160"),
        ("512x512", "at least 655,360 pixels"),
        ("big", "WIDTHxHEIGHT"),
        ("0x1024", "positive"),
    ],
)
def test_flexible_sizes_refused_with_reason(size: str, reason: str) -> None:
    with pytest.raises(UnsupportedOption) as caught:
        check_request(options(model="gpt-image-2", size=size), 1)
    assert caught.value.user_message.startswith(f"Size {size} does not work with gpt-image-2: ")
    assert reason in caught.value.user_message


def test_standard_size_models_refuse_custom_sizes() -> None:
    check_request(options(model="gpt-image-1.5", size="1536x1024"), 1)
    with pytest.raises(UnsupportedOption, match="only takes 1024x1024, 1536x1024, 1024x1536 or auto"):
        check_request(options(model="gpt-image-1.5", size="1536x864"), 1)


def test_qualities() -> None:
    check_request(options(model="gpt-image-2.5-sunburst", quality="max"), 1)
    check_request(options(model="gpt-image-2.5-flare", quality="xhigh"), 1)
    with pytest.raises(UnsupportedOption) as caught:
        check_request(options(model="gpt-image-2", quality="xhigh"), 1)
    assert "gpt-image-2.5-sunburst" in caught.value.user_message
    with pytest.raises(UnsupportedOption, match="quality 'standard'"):
        check_request(options(quality="standard"), 1)


def test_output_formats() -> None:
    with pytest.raises(UnsupportedOption, match="cannot write 'gif' images; use one of jpeg, png, webp"):
        check_request(options(output_format="gif"), 1)


def test_image_count_limits() -> None:
    with pytest.raises(TooManyImages) as caught:
        check_request(options(), 18)
    assert caught.value.user_message == (
        "gpt-image-2 takes at most 16 images and this merge would send 18: remove 2, or use auto or collage "
        "mode, which send them as one sheet."
    )
    with pytest.raises(TooManyImages, match=r"gpt-image-2\.6-flare takes one image and this merge would send 2"):
        check_request(options(model="gpt-image-2.6-flare"), 2)
    with pytest.raises(NoImages):
        check_request(options(), 0)


def test_prompt_length() -> None:
    check_request(options(prompt="x" * 32_000), 1)
    with pytest.raises(PromptTooLong, match="32,001 characters; gpt-image-2 takes at most 32,000"):
        check_request(options(prompt="x" * 32_001), 1)


def test_n_range() -> None:
    check_request(options(n=10), 1)
    for n in (0, 11):
        with pytest.raises(UnsupportedOption, match="between 1 and 10 images"):
            check_request(options(n=n), 1)


def test_size_hint_only_when_the_hint_itself_works() -> None:
    with pytest.raises(UnsupportedOption) as caught:
        check_request(options(model="gpt-image-2", size="3850x2160"), 1)
    assert caught.value.user_message.endswith("must be multiples of 16.")
