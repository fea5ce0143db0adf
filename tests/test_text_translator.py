"""TextTranslator: every text of a request translated in one batch; bad languages fail only their document."""

import os
import signal

import pytest
from docarray import DocList
from tiny_models import build_tiny_marian

from executors.text_translator.backends import ApertiumTranslator, tidied
from executors.text_translator.executor import TextTranslator
from transmodal.docs import MediaDoc, TextRegion


@pytest.fixture(scope="module")
def apertium_translator():
    translator = TextTranslator(backend="apertium")
    yield translator
    translator.close()


def test_translates_document_text_and_every_region(apertium_translator):
    doc = MediaDoc(
        text="No smoking\nEmergency exit",
        regions=DocList[TextRegion]([TextRegion(text="No smoking"), TextRegion(text="Emergency exit")]),
        source_lang="en",
        target_lang="es",
    )
    (result,) = apertium_translator.translate(DocList[MediaDoc]([doc]))
    assert result.error is None
    assert [region.translation for region in result.regions] == ["No fumar", "Salida de emergencia"]
    assert result.translation == "No fumar\nSalida de emergencia"


def test_languages_fall_back_to_request_parameters_then_executor_defaults(apertium_translator):
    docs = DocList[MediaDoc]([MediaDoc(text="Good morning"), MediaDoc(text="Good morning", target_lang="ca")])
    result = apertium_translator.translate(docs, parameters={"source_lang": "en"})
    assert result[0].translation == "Buenos días" and result[0].target_lang == "es"
    assert result[1].error is None and result[1].translation != "Good morning"  # English -> Catalan


def test_whole_request_goes_to_apertium_in_one_process_call(apertium_translator, monkeypatch):
    calls = []
    original = ApertiumTranslator._run

    def counting_run(self, mode, text):
        calls.append(text)
        return original(self, mode, text)

    monkeypatch.setattr(ApertiumTranslator, "_run", counting_run)
    docs = DocList[MediaDoc]([MediaDoc(text=text) for text in ("Hot soup", "Cold drinks", "Fish market", "Hot soup")])
    result = apertium_translator.translate(docs)
    assert len(calls) == 1
    assert [doc.translation for doc in result] == ["Sopa caliente", "Bebidas frías", "Lonja de pez", "Sopa caliente"]


def _running(process_group: int) -> bool:
    try:
        os.killpg(process_group, 0)
        return True
    except ProcessLookupError:
        return False


def test_apertiums_programs_are_kept_running_translate_as_apertium_does_and_stop_on_close():
    texts = [
        "Hello, how are you? I am fine.",
        "NO PARKING\n\nDouble parking is forbidden.\n\nI'm sorry, Anda.",
        "Brackets [like these] ^and$ / back\\slash @at <angle> {braces}.",
        "Hell, no.",
    ]
    kept, once = ApertiumTranslator(), ApertiumTranslator(keep_running=False)
    try:
        assert kept.translate(texts, "en", "es") == once.translate(texts, "en", "es")
        pipeline = kept.pipelines["eng-spa"]
        assert pipeline is not None and pipeline.process.poll() is None
        group = pipeline.process.pid
        assert kept.translate(["Hot soup"], "en", "es") == ["Sopa caliente"]
        assert kept.pipelines["eng-spa"] is pipeline  # the same programs, not started again

        os.killpg(group, signal.SIGKILL)  # a pipeline that died: the text is still translated, and the next
        pipeline.process.wait()  # one starts it again
        assert kept.translate(["Cold drinks"], "en", "es") == ["Bebidas frías"]
        assert kept.translate(["Hot soup"], "en", "es") == ["Sopa caliente"]
        restarted = kept.pipelines["eng-spa"]
        assert restarted is not None and restarted is not pipeline
    finally:
        kept.close()
    assert not _running(restarted.process.pid)  # every program of its process group
    assert kept.pipelines == {}


def test_unknown_language_and_missing_pair_fail_only_their_document(apertium_translator):
    docs = DocList[MediaDoc](
        [
            MediaDoc(text="Hot soup", target_lang="xx"),
            MediaDoc(text="Hot soup", target_lang="de"),  # Debian has no eng-deu Apertium pair
            MediaDoc(text="Hot soup"),
        ]
    )
    result = apertium_translator.translate(docs)
    assert "unknown target language code 'xx'" in result[0].error
    assert result[0].error_stage == "TextTranslator"
    assert "no Apertium pair installed for en->de" in result[1].error and "eng-spa" in result[1].error
    assert result[2].error is None and result[2].translation == "Sopa caliente"


def test_a_pair_without_a_direct_mode_goes_through_a_pivot_language(apertium_translator):
    # Debian has fr-es and spa-eng but no French-English pair: French reaches English through Spanish.
    translator = ApertiumTranslator()
    assert translator.route("fr", "en") == ["fr-es", "spa-eng"]
    (result,) = apertium_translator.translate(
        DocList[MediaDoc](
            [MediaDoc(text="La bibliothèque est fermée aujourd'hui.", source_lang="fr", target_lang="en")]
        )
    )
    assert result.error is None and {"library", "closed", "today"} <= set(result.translation.lower().strip(".").split())
    assert translator.route("en", "es") == ["eng-spa"]  # a direct pair is used as it is


def test_same_source_and_target_copies_the_text(apertium_translator):
    (result,) = apertium_translator.translate(DocList[MediaDoc]([MediaDoc(text="Hot soup", target_lang="en")]))
    assert result.translation == "Hot soup"


# --- transformers backend: a tiny Marian model taught three pairs (tiny_models.build_tiny_marian) ---------


def translate_regions(translator, texts, parameters=None):
    doc = MediaDoc(regions=[TextRegion(text=text) for text in texts], source_lang="en", target_lang="es")
    (result,) = translator.translate(DocList[MediaDoc]([doc]), parameters or {})
    assert not result.failed, result.error
    return result.regions


def test_capitals_are_translated_in_sentence_case_and_written_back_in_capitals(apertium_translator):
    (parking,) = translate_regions(apertium_translator, ["DOUBLE PARKING IS NOT ALLOWED"])
    # Apertium given the capitals as they are: "El APARCAMIENTO doble NO ES DEJADO" (mixed case).
    assert parking.translation == parking.translation.upper() and "APARCAMIENTO DOBLE" in parking.translation


def test_spanish_questions_and_exclamations_are_opened_and_dropped_words_leave_no_gaps(apertium_translator):
    # Apertium alone: "Lucy,   sabes quién es en el cotta?", "Naw, yo  no." (balloons of a real comic page).
    question, answer, both = translate_regions(
        apertium_translator,
        ["LUCY, DO YOU KNOW WHO IS IN THE COTTA?", "Naw, I don't.", "Hello! How are you?"],
    )
    assert question.translation == "¿LUCY, SABES QUIÉN ES EN EL COTTA?"
    assert answer.translation == "Naw, yo no."
    assert both.translation.startswith("¡Hola! ¿")
    assert tidied("Ya?", "es") == "¿Ya?" and tidied("¿Ya?", "es") == "¿Ya?" and tidied('"Ven!" dijo.', "es")
    assert tidied("Well?  Yes.", "en") == "Well? Yes."  # English opens nothing
    assert tidied(">Puta! >qué tal?", "es") == ">¡Puta! >¿qué tal?"  # after a chat line's prompt
    (sorry,) = translate_regions(apertium_translator, ["I'M SORRY, ANDA."])
    assert sorry.translation == "LO SIENTO, ANDA."  # Apertium alone: "Losiento , Anda."
    assert tidied("Aquello es mi chica .", "es") == "Aquello es mi chica."  # Apertium's "THAT'S MY GIRL."
    assert tidied("Bonjour ! Ça va .", "fr") == "Bonjour ! Ça va."  # French sets a space before "!"


def test_a_block_whose_translation_repeats_it_is_flagged_untouched(apertium_translator):
    model, sign = translate_regions(apertium_translator, ["GM 125", "No smoking"])
    assert model.translation == "GM 125" and model.flags == ["untouched"]
    assert "untouched" not in sign.flags


def test_no_is_not_taken_for_the_abbreviation_of_number(apertium_translator):
    # Apertium alone: "¿QUÉ? INFIERNO, NÚM. NOOBS." (a real comic balloon) and "HABITACIÓN NÚM. 5".
    no, number = translate_regions(apertium_translator, ["WHAT? HELL, NO. NOOBS.", "Room no. 5"])
    assert "NÚM" not in no.translation and "NO." in no.translation
    assert "núm." in number.translation.lower()  # "Núm. de sala 5": a real number sign stays


def test_code_and_a_shop_name_are_left_as_written(apertium_translator):
    # Apertium alone: ">>Marcadores=np. Ceros 1ike(monedas)" and "ADOPTIVO ES" (photos of a programming
    # book and of a shop front, the real-photo evaluation set).
    code, shop, chat = translate_regions(
        apertium_translator, [">>markers=np. zeros 1ike（coins)", "FOSTER'S", ">go screw yourself"]
    )
    assert code.translation == code.text and code.flags == ["untouched"]
    assert shop.translation == "FOSTER'S" and shop.flags == ["untouched"]
    assert chat.translation != chat.text and "untouched" not in chat.flags  # a chat line's ">" is no code


def test_the_jobs_glossary_keeps_names_and_fixes_terms_on_every_page(apertium_translator):
    glossary = {"Captain Marvel": "keep", "guild": "clan"}
    page1, page2 = translate_regions(
        apertium_translator, ["Captain Marvel meets the guild.", "THE GUILD WAITS."], {"glossary": glossary}
    )
    assert page1.translation.startswith("Captain Marvel") and "clan" in page1.translation
    assert "CLAN" in page2.translation and page2.translation.isupper()
    (plain,) = translate_regions(apertium_translator, ["Captain Marvel meets the guild."])
    assert "Captain Marvel" not in plain.translation  # without the glossary Apertium translates the name


@pytest.fixture(scope="module")
def tiny_marian_dir(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("tiny-marian"))
    build_tiny_marian(directory)
    return directory


@pytest.mark.slow  # trains the tiny Marian
def test_transformers_backend_loads_a_saved_model_and_translates(tiny_marian_dir, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    translator = TextTranslator(backend="transformers", backend_options={"model": tiny_marian_dir})
    docs = DocList[MediaDoc](
        [
            MediaDoc(text="no smoking\nhot soup", regions=DocList[TextRegion]([TextRegion(text="cold drinks")])),
            MediaDoc(text="no smoking", target_lang="fr"),  # the tokenizer says this model is en->es only
        ]
    )
    result = translator.translate(docs)
    assert result[0].error is None
    assert result[0].translation == "no fumar\nsopa caliente"
    assert result[0].regions[0].translation == "bebidas frías"
    assert "translates en->es only" in result[1].error


@pytest.mark.slow  # trains the tiny Marian
def test_transformers_backend_model_from_environment_variable(tiny_marian_dir, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSMODAL_TRANSLATION_MODEL", tiny_marian_dir)
    translator = TextTranslator(backend="transformers")
    (result,) = translator.translate(DocList[MediaDoc]([MediaDoc(text="hot soup")]))
    assert result.translation == "sopa caliente"
