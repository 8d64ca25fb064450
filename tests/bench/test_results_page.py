"""Generated sections of the results page: created at the end, replaced in place, the rest kept."""

import pytest

from mixkit.bench.results_page import read_section, update_section, write_section


def test_section_is_appended_then_replaced_in_place():
    page = "# Results\n\nHand-written intro.\n"
    once = update_section(page, "sample-quick", "| a |\n|---|\n| 1 |\n")
    assert once.startswith(page)
    assert once.endswith("<!-- mixkit:begin sample-quick -->\n| a |\n|---|\n| 1 |\n"
                         "<!-- mixkit:end sample-quick -->\n")
    both = update_section(once, "text-domains", "T") + "\nFooter.\n"
    again = update_section(both, "sample-quick", "| a |\n|---|\n| 2 |")
    assert read_section(again, "sample-quick") == "| a |\n|---|\n| 2 |"
    assert read_section(again, "text-domains") == "T"
    assert again.startswith(page) and again.endswith("\nFooter.\n") and "| 1 |" not in again
    assert update_section(again, "sample-quick", "| a |\n|---|\n| 2 |") == again  # idempotent
    assert read_section(again, "regression") is None


def test_empty_page_bad_keys_and_broken_markers():
    assert update_section("", "k", "x") == "<!-- mixkit:begin k -->\nx\n<!-- mixkit:end k -->\n"
    with pytest.raises(ValueError, match="key"):
        update_section("", "two words", "x")
    with pytest.raises(ValueError, match="markers"):
        update_section("<!-- mixkit:begin k -->\nno end\n", "k", "x")
    with pytest.raises(ValueError, match="markers"):
        update_section("<!-- mixkit:end k -->\n<!-- mixkit:begin k -->\n", "k", "x")


def test_write_section_creates_the_file_and_its_folder(tmp_path):
    path = tmp_path / "docs" / "results.md"
    write_section(path, "mixer-speed", "table 1")
    write_section(path, "sampler-speed", "table 2")
    write_section(path, "mixer-speed", "table 3")
    text = path.read_text()
    assert read_section(text, "mixer-speed") == "table 3" and read_section(text, "sampler-speed") == "table 2"
    assert text.index("mixer-speed") < text.index("sampler-speed")
