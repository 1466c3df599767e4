import pytest

from dataset_converters import convert
from tests.dataset_converters.conftest import expect_conversion_error, read_rows
from tests.dataset_converters.test_amazon_beauty import recbole_read

SESSIONS = (
    "prev_items,next_item,locale\n"
    "\"['B01' 'B02']\",B03,DE\n"
    "\"['B01' 'B04'\n 'B05']\",B02,UK\n"
    "\"['B09']\",B01,JP\n"
)
PRODUCTS = (
    "id,locale,title,price,brand,color,size,model,material,author,desc\n"
    "B01,DE,Kaffee &amp; Tee,9.99,Acme,rot,,,,,\"Sehr \"\"gut\"\"\"\n"
    "B01,UK,Coffee,8.5,Acme,red,,,,,Tasty\n"
    "B02,DE,Becher,3,,,,,,,\n"
    "B04,UK,Mug,,,,,,,,\n"
)


@pytest.fixture
def raw(tmp_path, write):
    write(tmp_path / "raw" / "sessions_train.csv", SESSIONS)
    write(tmp_path / "raw" / "products_train.csv", PRODUCTS)
    return tmp_path / "raw"


def test_sessions_become_sequences_and_items_are_keyed_by_locale(raw, tmp_path):
    _, summary = convert("amazon-m2", raw, tmp_path / "out", locales="DE,UK")
    header, rows = read_rows(tmp_path / "out" / "amazon-m2" / "amazon-m2.inter")
    assert header == ["user_id:token", "item_id:token", "timestamp:float"]
    assert rows == [
        ["DE_1", "DE_B01", "0"], ["DE_1", "DE_B02", "1"], ["DE_1", "DE_B03", "2"],
        ["UK_2", "UK_B01", "0"], ["UK_2", "UK_B04", "1"], ["UK_2", "UK_B05", "2"], ["UK_2", "UK_B02", "3"],
    ]
    item = recbole_read(tmp_path / "out" / "amazon-m2" / "amazon-m2.item")
    by_id = item.set_index("item_id:token")
    assert by_id.loc["DE_B01", "title:token"] == "Kaffee & Tee" and by_id.loc["UK_B01", "title:token"] == "Coffee"
    assert by_id.loc["DE_B01", "desc:token"] == 'Sehr "gut"' and by_id.loc["DE_B01", "price:float"] == "9.99"
    assert by_id.loc["UK_B02", "title:token"] == ""  # B02 is only described for DE: nothing borrowed
    assert by_id.loc["UK_B05", "locale:token"] == "UK"
    assert (summary.users, summary.items, summary.interactions) == (2, 7, 7)


def test_all_locales_by_default(raw, tmp_path):
    _, summary = convert("amazon-m2", raw, tmp_path / "out")
    assert summary.users == 3


@pytest.mark.parametrize("name, old, new, message", [
    ("sessions_train.csv", "['B09']", "[B09]", r"sessions_train\.csv session 3: prev_items is '\[B09\]'"),
    ("sessions_train.csv", "next_item", "next", r"missing column\(s\) \['next_item'\]"),
    ("products_train.csv", "B04,UK", "B01,UK", r"product 'UK_B01' \(locale_id\) appears more than once"),
])
def test_bad_input(raw, tmp_path, name, old, new, message):
    expect_conversion_error("amazon-m2", raw, tmp_path / "out", name, old, new, message)
