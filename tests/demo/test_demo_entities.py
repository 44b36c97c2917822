import pytest

from ops.demo.entities import Restaurant, RestaurantSummary, Review

VINEYARD = Restaurant("The Vineyard", "Fine Dining", "12 Cellar Lane")
REVIEW = Review("The Vineyard", "markmartin", "2020-05-24T11:59:44", 5, "Superb.")


def test_str_gives_the_lesson_lines():
    assert str(VINEYARD) == "Restaurant<The Vineyard -- Fine Dining>"
    assert str(REVIEW) == "Review<The Vineyard -- markmartin (2020-05-24T11:59:44)>"


def test_dicts_round_trip():
    assert VINEYARD.to_dict() == {"name": "The Vineyard", "cuisine": "Fine Dining", "address": "12 Cellar Lane"}
    assert Restaurant.from_dict(VINEYARD.to_dict()) == VINEYARD
    assert Review.from_dict(REVIEW.to_dict()) == REVIEW
    summary = RestaurantSummary(VINEYARD, (REVIEW,))
    assert RestaurantSummary.from_dict(summary.to_dict()) == summary


@pytest.mark.parametrize(
    "change, message",
    [
        ({"rating": "5"}, "field 'rating' should be int"),
        ({"rating": True}, "field 'rating' should be int"),
        ({"rating": 6}, "between 1 and 5"),
        ({"timestamp": "2020-5-24T11:59:44"}, "not of the form"),
        ({"timestamp": "2020-05-24 11:59:44"}, "not of the form"),
        ({"username": None}, "field 'username' should be str"),
    ],
)
def test_review_from_dict_rejects_bad_fields(change, message):
    with pytest.raises(ValueError, match=message):
        Review.from_dict({**REVIEW.to_dict(), **change})


def test_from_dict_rejects_missing_fields_and_non_objects():
    with pytest.raises(ValueError, match="missing field 'cuisine'"):
        Restaurant.from_dict({"name": "x", "address": "y"})
    with pytest.raises(ValueError, match="expected an object"):
        Restaurant.from_dict(["The Vineyard"])


def test_summary_rejects_reviews_of_another_restaurant():
    stranger = Review("Casa Verde", "carlosm", "2020-05-25T21:10:03", 5, "Great.")
    with pytest.raises(ValueError, match="not about 'The Vineyard'"):
        RestaurantSummary(VINEYARD, (REVIEW, stranger))
