import pytest

from dataset_converters import convert
from tests.dataset_converters.conftest import expect_conversion_error, read_rows
from tests.dataset_converters.test_amazon_beauty import recbole_read

INTERACTIONS = (
    "user_id,item_id,last_watch_dt,total_dur,watched_pct\n"
    "7,300,2021-08-02,500,10.0\n"
    "7,100,2021-08-01,9000,95.0\n"
    "7,200,2021-08-02,120,3.0\n"
    "8,100,2021-08-03,60,\n"
)
ITEMS = (
    "item_id,content_type,title,title_orig,release_year,genres,countries,for_kids,age_rating,studios,"
    "directors,actors,description,keywords\n"
    '100,film,Ирония судьбы,,1976.0,"комедии, мелодрамы",СССР,,12.0,,Эльдар Рязанов,"Андрей Мягков",'
    '"Каждый год 31 декабря&nbsp;друзья\nходят в баню.","Новый год, баня"\n'
    "200,series,Show,Show,2020.0,драмы,США,0.0,16.0,HBO,,,,\n"
)
USERS = "user_id,age,income,sex,kids_flg\n7,age_25_34,income_60_90,М,1\n8,,,,0\n9,age_18_24,,Ж,0\n"


@pytest.fixture
def raw(tmp_path, write):
    write(tmp_path / "raw" / "interactions.csv", INTERACTIONS)
    write(tmp_path / "raw" / "items.csv", ITEMS)
    write(tmp_path / "raw" / "users.csv", USERS)
    return tmp_path / "raw"


def test_interactions_items_and_users(raw, tmp_path):
    _, summary = convert("kion", raw, tmp_path / "out")
    header, rows = read_rows(tmp_path / "out" / "kion" / "kion.inter")
    assert header == ["user_id:token", "item_id:token", "timestamp:float", "total_dur:float", "watched_pct:float"]
    # 2021-08-01 = 1627776000; on 2021-08-02 the 120 s watch comes before the 500 s one
    assert rows == [
        ["7", "100", "1627776000", "9000", "95"],
        ["7", "200", "1627862400", "120", "3"],
        ["7", "300", "1627862400", "500", "10"],
        ["8", "100", "1627948800", "60", ""],
    ]
    item = recbole_read(tmp_path / "out" / "kion" / "kion.item")
    assert item.loc[0, "item_id:token"] == "100" and item.loc[0, "title:token"] == "Ирония судьбы"
    assert item.loc[0, "description:token"] == "Каждый год 31 декабря друзья ходят в баню."  # &nbsp; -> space
    assert item.loc[0, "genres:token"] == "комедии, мелодрамы"
    assert item["item_id:token"].tolist() == ["100", "200", "300"]  # 300 has no metadata: empty fields
    assert (item.iloc[2, 1:] == "").all()
    header, users = read_rows(tmp_path / "out" / "kion" / "kion.user")
    assert header == ["user_id:token", "age:token", "income:token", "sex:token", "kids_flg:token"]
    assert users == [["7", "age_25_34", "income_60_90", "М", "1"], ["8", "", "", "", "0"]]  # 9 never watched
    assert (summary.users, summary.items, summary.interactions) == (2, 3, 4)


def test_min_watched_pct(raw, tmp_path):
    _, summary = convert("kion", raw, tmp_path / "out", min_watched_pct=5.0)
    _, rows = read_rows(tmp_path / "out" / "kion" / "kion.inter")
    assert [row[1] for row in rows] == ["100", "300"]


@pytest.mark.parametrize("name, old, new, message", [
    ("interactions.csv", "2021-08-03", "03/08/2021", r"interactions\.csv line 5: last_watch_dt is '03/08/2021'"),
    ("interactions.csv", "7,200,", "7,abc,", r"interactions\.csv line 4: column 'item_id' is 'abc'"),
    ("items.csv", "200,series", "2x0,series", r"items\.csv line 3: column 'item_id' is '2x0', expected a number"),
    ("users.csv", "kids_flg", "kids", r"users\.csv: missing column\(s\) \['kids_flg'\]"),
])
def test_bad_input(raw, tmp_path, name, old, new, message):
    expect_conversion_error("kion", raw, tmp_path / "out", name, old, new, message)
