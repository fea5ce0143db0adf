"""A job's glossary: terms protected through the MT engine, then put back in the page's case."""

import pytest

from transmodal.errors import BadInputError, ConfigurationError
from transmodal.glossary import KEEP, checked_glossary, load_glossary, protect, restore


def test_terms_are_replaced_by_placeholders_longest_first_and_put_back_in_the_pages_case():
    glossary = {"Captain Marvel": KEEP, "Captain": "Capitana", "spell book": "libro de hechizos"}
    protected = protect("CAPTAIN MARVEL found the Captain's spell book.", glossary)
    assert "Marvel" not in protected.text and "spell" not in protected.text
    # An engine that passes unknown words through, as Apertium does:
    translated, lost = restore(protected.text.replace("found", "encontró"), protected)
    assert translated == "CAPTAIN MARVEL encontró the Capitana's libro de hechizos." and lost == []


def test_a_term_inside_another_word_is_not_a_term():
    assert protect("Captaincy", {"Captain": "Capitana"}).replacements == {}


def test_a_placeholder_the_engine_lost_is_reported():
    protected = protect("Ask Tom", {"Tom": KEEP})
    translated, lost = restore("Pregunta", protected)
    assert lost == list(protected.replacements) and translated == "Pregunta"


def test_glossary_files_in_text_yaml_and_json(tmp_path):
    text = tmp_path / "terms.txt"
    text.write_text("# names\nCaptain Marvel = keep\nspell book = libro de hechizos\n")
    yaml_file = tmp_path / "terms.yml"
    yaml_file.write_text("Captain Marvel: keep\nspell book: libro de hechizos\n")
    json_file = tmp_path / "terms.json"
    json_file.write_text('{"Captain Marvel": null, "spell book": "libro de hechizos"}')
    expected = {"Captain Marvel": KEEP, "spell book": "libro de hechizos"}
    assert load_glossary(str(text)) == load_glossary(str(yaml_file)) == load_glossary(str(json_file)) == expected


def test_bad_glossaries_are_clear_errors(tmp_path):
    with pytest.raises(ConfigurationError, match="not found"):
        load_glossary(str(tmp_path / "missing.txt"))
    broken = tmp_path / "broken.txt"
    broken.write_text("no equals sign here\n")
    with pytest.raises(ConfigurationError, match="broken.txt:1"):
        load_glossary(str(broken))
    with pytest.raises(BadInputError, match="must map"):
        checked_glossary(["a", "b"])
    with pytest.raises(BadInputError, match="must be a string"):
        checked_glossary({"a": 3})
