"""The course's data sets: the real digits when scikit-learn is installed, the generated
stand-in always, with the same shapes and value ranges either way."""

import numpy as np
import pytest

from coursedata import load_digits, train_test_split


@pytest.mark.parametrize("source", ["auto", "generated"])
def test_digits_shapes_and_ranges(source):
    digits = load_digits(source)
    assert digits.images.shape == (1797, 64) and digits.images.dtype == np.float64
    assert digits.labels.shape == (1797,) and digits.labels.dtype == np.int64
    assert 0.0 <= digits.images.min() and digits.images.max() <= 1.0
    assert set(np.unique(digits.labels)) == set(range(10))
    assert np.bincount(digits.labels).min() > 150


def test_generated_digits_are_learnable_but_not_trivial():
    """A nearest-centroid classifier does much better than chance but far from perfectly."""
    x_train, y_train, x_test, y_test = train_test_split(load_digits("generated"))
    centroids = np.stack([x_train[y_train == k].mean(axis=0) for k in range(10)])
    predicted = ((x_test[:, None, :] - centroids) ** 2).sum(axis=-1).argmin(axis=1)
    assert 0.4 < (predicted == y_test).mean() < 0.95


def test_split_is_a_seeded_partition():
    digits = load_digits("generated")
    x_train, y_train, x_test, y_test = train_test_split(digits, test_fraction=0.25, seed=3)
    assert len(x_test) == 449 and len(x_train) + len(x_test) == 1797
    again = train_test_split(digits, test_fraction=0.25, seed=3)
    assert np.array_equal(again[2], x_test)
    rows = np.concatenate([x_train, x_test])
    assert np.array_equal(np.unique(rows, axis=0), np.unique(digits.images, axis=0))


def test_real_digits_when_scikit_learn_is_installed():
    pytest.importorskip("sklearn")
    digits = load_digits("scikit-learn")
    assert digits.source == "scikit-learn"
    assert digits.images.max() == 1.0  # 16/16: scaled from scikit-learn's 0..16


@pytest.mark.parametrize("source", ["auto", "generated"])
def test_names_are_unique_lowercase_words(source):
    from coursedata import load_names

    names = load_names(source)
    assert len(names) >= 3000 and len(set(names)) == len(names) and names == sorted(names)
    assert set("".join(names)) <= set("abcdefghijklmnopqrstuvwxyz")
    assert 2 <= min(map(len, names)) and max(map(len, names)) <= 16


def test_census_names_when_the_names_package_is_installed():
    pytest.importorskip("names")
    from coursedata import load_names

    names = load_names("census")
    assert len(names) == 5163 and {"mary", "james", "emma"} <= set(names)


def test_pydoc_text_is_deterministic_ascii_prose():
    from coursedata import load_pydoc_text

    text = load_pydoc_text()
    assert text == load_pydoc_text() and 300_000 < len(text) < 700_000
    assert set(text) <= {"\n"} | {chr(c) for c in range(32, 127)}
    assert "assert" in text and 'The "assert" statement' in text
    raw = load_pydoc_text(ascii_only=False)
    assert raw.startswith(text[:200]) and not set(raw) <= set(text)


def test_split_text_cuts_at_a_line_break():
    from coursedata import load_pydoc_text, split_text

    text = load_pydoc_text()
    train, held_out = split_text(text, held_out_fraction=0.1)
    assert train + held_out == text and train.endswith("\n")
    assert 0.09 < len(held_out) / len(text) < 0.11
    assert split_text("ab\ncd\nef\n", 0.5) == ("ab\ncd\n", "ef\n")
    with pytest.raises(ValueError):
        split_text(text, 1.0)


def test_line_chart_writes_valid_svg_with_one_path_per_series(tmp_path):
    import xml.etree.ElementTree as ET

    from coursedata import line_chart

    ns = "{http://www.w3.org/2000/svg}"
    series = {
        "a & b": [0.0, 1.0, 4.0, 9.0],
        "with a gap": np.array([1.0, np.nan, 3.0, 2.0]),
        "pairs": (np.array([0.5, 2.5]), [5.0, -1.0]),
    }
    path = line_chart(series, tmp_path / "chart.svg", title="t < 1", xlabel="step", ylabel="value")
    assert path == str(tmp_path / "chart.svg")
    root = ET.parse(path).getroot()  # well-formed XML, names escaped
    assert root.tag == f"{ns}svg"
    paths = root.findall(f"{ns}path")
    assert [p.find(f"{ns}title").text for p in paths] == list(series)
    assert paths[0].get("d").count("M") == 1 and paths[0].get("d").count("L") == 3
    assert paths[1].get("d").count("M") == 2  # the NaN breaks the line
    texts = [t.text for t in root.iter(f"{ns}text")]
    assert {"t < 1", "step", "value", "a & b", "pairs"} <= set(texts)
    assert "10" in texts and "-2" in texts  # round-number ticks covering -1 … 9


def test_line_chart_of_a_constant_series(tmp_path):
    import xml.etree.ElementTree as ET

    from coursedata import line_chart

    root = ET.parse(line_chart({"flat": [2.0] * 5}, tmp_path / "flat.svg")).getroot()
    assert len(root.findall("{http://www.w3.org/2000/svg}path")) == 1


def test_line_chart_refuses_what_it_cannot_draw(tmp_path):
    from coursedata import line_chart

    with pytest.raises(ValueError, match="at least one series"):
        line_chart({}, tmp_path / "none.svg")
    with pytest.raises(ValueError, match="as many xs as ys"):
        line_chart({"bad": ([0.0, 1.0], [1.0])}, tmp_path / "bad.svg")


def test_nice_ticks_are_round_and_cover_the_range():
    from coursedata.svg import nice_ticks

    assert nice_ticks(0.0, 1.0) == [0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]
    assert nice_ticks(-3.2, 17.0) == [-5.0, 0.0, 5.0, 10.0, 15.0, 20.0]
    assert nice_ticks(0.0, 999.0)[-1] == 1000.0
    ticks = nice_ticks(5.0, 5.0)  # one value: a unit range around it
    assert ticks[0] <= 4.5 and ticks[-1] >= 5.5


def test_scatter_chart_draws_one_dot_per_finite_point_coloured_by_label(tmp_path):
    import xml.etree.ElementTree as ET

    from coursedata import scatter_chart
    from coursedata.svg import COLOURS

    ns = "{http://www.w3.org/2000/svg}"
    points = np.array([[0.0, 0.0], [1.0, 2.0], [np.nan, 1.0], [3.0, -1.0], [2.0, 9.0]])
    labels = np.array([0, 1, 1, 2, 0])
    centres = np.array([[1.0, 4.5], [1.0, 2.0], [3.0, -1.0]])
    path = scatter_chart(
        points,
        labels,
        tmp_path / "s.svg",
        title="a < b",
        xlabel="x1",
        names=["setosa", "b & c", "z"],
        centres=centres,
    )
    assert path == str(tmp_path / "s.svg")
    root = ET.parse(path).getroot()  # well-formed, names escaped
    dots = [c for c in root.iter(f"{ns}circle") if c.get("r") == "3"]
    assert [d.get("fill") for d in dots] == [COLOURS[k] for k in (0, 1, 2, 0)]  # the NaN row is skipped
    xs = [float(d.get("cx")) for d in dots]
    ys = [float(d.get("cy")) for d in dots]
    assert xs[0] < xs[1] < xs[3] < xs[2]  # x grows to the right
    assert ys[2] > ys[0] > ys[1] > ys[3]  # y grows upwards (pixels downwards)
    titles = [t.text for t in root.iter(f"{ns}title")]
    assert titles == ["centre 0", "centre 1", "centre 2"]
    texts = [t.text for t in root.iter(f"{ns}text")]
    assert {"a < b", "x1", "setosa", "b & c", "z"} <= set(texts)
    assert "10" in texts and "-2" in texts  # ticks covering -1 … 9


def test_scatter_chart_draws_two_sigma_ellipses_in_the_labels_colours(tmp_path):
    import xml.etree.ElementTree as ET

    from coursedata import scatter_chart
    from coursedata.svg import COLOURS

    ns = "{http://www.w3.org/2000/svg}"
    points = np.array([[-10.0, -10.0], [10.0, 10.0]])
    ellipses = [
        (np.array([0.0, 0.0]), np.array([[4.0, 0.0], [0.0, 1.0]])),
        ([5.0, 5.0], [[1.0, 0.5], [0.5, 1.0]]),
    ]
    root = ET.parse(scatter_chart(points, [0, 1], tmp_path / "e.svg", ellipses=ellipses)).getroot()
    rings = [p for p in root.iter(f"{ns}path") if (p.find(f"{ns}title") is not None)]
    assert [r.find(f"{ns}title").text for r in rings] == ["ellipse 0", "ellipse 1"]
    assert [r.get("stroke") for r in rings] == COLOURS[:2]

    def corners(ring):
        xy = np.array(
            [[float(v) for v in c.lstrip("ML").split(",")] for c in ring.get("d").split() if c != "Z"]
        )
        return xy.min(axis=0), xy.max(axis=0)

    dots = [c for c in root.iter(f"{ns}circle") if c.get("r") == "3"]
    (x0, y0), (x1, y1) = (
        (float(dots[0].get("cx")), float(dots[0].get("cy"))),
        (float(dots[1].get("cx")), float(dots[1].get("cy"))),
    )
    per_x, per_y = (x1 - x0) / 20.0, (y0 - y1) / 20.0  # pixels per unit (both axes span -10 … 10)
    low, high = corners(rings[0])
    # Two standard deviations: ±4 along x (σ = 2), ±2 along y (σ = 1), around the origin.
    assert np.allclose((high - low) / [per_x, per_y], [8.0, 4.0], rtol=1e-2)
    assert np.allclose((low + high) / 2, [x0 + 10 * per_x, y0 - 10 * per_y], atol=0.1)


def test_scatter_chart_without_labels_and_refusals(tmp_path):
    import xml.etree.ElementTree as ET

    from coursedata import scatter_chart

    root = ET.parse(scatter_chart([[0.0, 1.0], [2.0, 3.0]], None, tmp_path / "one.svg")).getroot()
    assert len(list(root.iter("{http://www.w3.org/2000/svg}circle"))) == 2  # no legend
    with pytest.raises(ValueError, match="shape"):
        scatter_chart(np.zeros((3, 3)), [0, 1, 2], tmp_path / "bad.svg")
    with pytest.raises(ValueError, match="one label per point"):
        scatter_chart(np.zeros((3, 2)), [0, 1], tmp_path / "bad.svg")
    with pytest.raises(ValueError, match="non-negative integers"):
        scatter_chart(np.zeros((2, 2)), [0.5, 1.0], tmp_path / "bad.svg")


def _decode_png_grey(data: bytes) -> np.ndarray:
    """The pixels of an 8-bit grey PNG with filter 0 on each row (what image_grid writes)."""
    import struct
    import zlib

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, dict[bytes, bytes]()
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        assert struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])[0] == zlib.crc32(kind + body)
        chunks[kind] = chunks.get(kind, b"") + body
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour) == (8, 0) and b"IEND" in chunks
    raw = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), dtype=np.uint8).reshape(height, width + 1)
    assert (raw[:, 0] == 0).all()
    return raw[:, 1:]


def test_image_grid_embeds_the_images_as_grey_pixels_in_a_grid(tmp_path):
    import base64
    import xml.etree.ElementTree as ET

    from coursedata import image_grid
    from coursedata.svg import GRID_GAP

    ns = "{http://www.w3.org/2000/svg}"
    rng = np.random.default_rng(0)
    images = rng.random((5, 3, 4))
    images[0, 0, 0], images[0, 0, 1], images[0, 0, 2] = -1.0, 2.0, np.nan  # clipped, NaN as black
    path = image_grid(images, tmp_path / "g.svg", columns=2, title="a < b")
    assert path == str(tmp_path / "g.svg")
    root = ET.parse(path).getroot()
    assert root.tag == f"{ns}svg"
    assert "a < b" in [t.text for t in root.iter(f"{ns}text")]
    (image,) = root.iter(f"{ns}image")
    href = image.get("href")
    assert href.startswith("data:image/png;base64,")
    pixels = _decode_png_grey(base64.b64decode(href.split(",", 1)[1]))
    g = GRID_GAP
    assert pixels.shape == (3 * (3 + g) + g, 2 * (4 + g) + g)  # 5 images in 2 columns: 3 rows
    expected = np.rint(np.clip(np.nan_to_num(images), 0, 1) * 255)
    for k in range(5):
        r, c = divmod(k, 2)
        top, left = g + r * (3 + g), g + c * (4 + g)
        assert np.array_equal(pixels[top : top + 3, left : left + 4], expected[k])
    assert pixels[0, 0, ...] == 128  # the separating lines are grey
    # Flat rows with shape=(h, w) give the same picture; the default is about √n columns.
    flat = image_grid(images.reshape(5, 12), tmp_path / "f.svg", columns=2, title="a < b", shape=(3, 4))
    assert (tmp_path / "f.svg").read_text() == (tmp_path / "g.svg").read_text()
    root = ET.parse(image_grid(images, tmp_path / "d.svg")).getroot()
    (image,) = root.iter(f"{ns}image")
    pixels = _decode_png_grey(base64.b64decode(image.get("href").split(",", 1)[1]))
    assert pixels.shape == (2 * (3 + g) + g, 3 * (4 + g) + g)
    assert flat == str(tmp_path / "f.svg")


def test_image_grid_refuses_what_it_cannot_draw(tmp_path):
    from coursedata import image_grid

    with pytest.raises(ValueError, match="shape"):
        image_grid(np.zeros((3, 64)), tmp_path / "bad.svg")
    with pytest.raises(ValueError, match="shape"):
        image_grid(np.zeros((3, 10)), tmp_path / "bad.svg", shape=(3, 4))
    with pytest.raises(ValueError, match="columns"):
        image_grid(np.zeros((3, 2, 2)), tmp_path / "bad.svg", columns=0)
    with pytest.raises(ValueError):
        image_grid(np.zeros((0, 2, 2)), tmp_path / "bad.svg")


TABLES = {
    "load_iris": ((150, 4), (50, 50, 50)),
    "load_wine": ((178, 13), (59, 71, 48)),
    "load_breast_cancer": ((569, 30), (212, 357)),
}


@pytest.mark.parametrize("source", ["auto", "generated"])
@pytest.mark.parametrize("loader", sorted(TABLES))
def test_classification_tables_have_the_real_shapes_and_counts(loader, source):
    import coursedata

    table = getattr(coursedata, loader)(source)
    shape, counts = TABLES[loader]
    assert table.X.shape == shape and table.X.dtype == np.float64 and np.isfinite(table.X).all()
    assert table.y.dtype == np.int64 and tuple(np.bincount(table.y)) == counts
    assert len(table.feature_names) == shape[1] and len(table.target_names) == len(counts)
    assert table.task == "classification"
    # Features on very different scales, so that standardising matters.
    spread = table.X.std(axis=0)
    assert spread.max() / spread.min() > 3


@pytest.mark.parametrize("loader", sorted(TABLES))
def test_generated_tables_are_learnable_but_not_trivial_to_memorise(loader):
    """A nearest-centroid classifier on standardised features beats chance on held-out rows."""
    import coursedata

    table = getattr(coursedata, loader)("generated")
    assert table.source == "generated"
    x_train, y_train, x_test, y_test = coursedata.standardize_split(table.X, table.y, 0.3, seed=0)
    k = len(table.target_names)
    centroids = np.stack([x_train[y_train == c].mean(axis=0) for c in range(k)])
    predicted = ((x_test[:, None, :] - centroids) ** 2).sum(axis=-1).argmin(axis=1)
    assert (predicted == y_test).mean() > 1.5 / k


@pytest.mark.parametrize("source", ["auto", "generated"])
def test_diabetes_is_a_regression_table_on_the_real_scale(source):
    from coursedata import load_diabetes

    table = load_diabetes(source)
    assert table.X.shape == (442, 10) and table.X.dtype == np.float64
    assert table.y.shape == (442,) and table.y.dtype == np.float64 and table.task == "regression"
    assert np.allclose(table.X.mean(axis=0), 0, atol=1e-12)
    assert np.allclose(np.linalg.norm(table.X, axis=0), 1)
    assert 140 < table.y.mean() < 165 and 60 < table.y.std() < 95
    # A least-squares line explains some but not all of the target.
    design = np.column_stack([np.ones(442), table.X])
    residual = table.y - design @ np.linalg.lstsq(design, table.y, rcond=None)[0]
    assert 0.3 < 1 - residual.var() / table.y.var() < 0.8


def test_real_tables_when_scikit_learn_is_installed():
    pytest.importorskip("sklearn")
    from sklearn import datasets

    import coursedata

    for name in ["iris", "wine", "breast_cancer", "diabetes"]:
        table = getattr(coursedata, f"load_{name}")("scikit-learn")
        bunch = getattr(datasets, f"load_{name}")()
        assert table.source == "scikit-learn"
        assert np.array_equal(table.X, bunch.data) and np.array_equal(table.y, bunch.target)
        assert table.feature_names == tuple(bunch.feature_names)


def test_standardize_split_uses_only_the_training_rows():
    from coursedata import standardize_split

    rng = np.random.default_rng(0)
    X = rng.normal(5, 3, size=(40, 3))
    X[:, 2] = 7.0  # a constant column is left at 0, not divided by 0
    y = np.arange(40)
    x_train, y_train, x_test, y_test = standardize_split(X, y, test_fraction=0.25, seed=1)
    assert len(y_test) == 10 and sorted(np.concatenate([y_train, y_test])) == list(range(40))
    assert np.allclose(x_train[:, :2].mean(axis=0), 0) and np.allclose(x_train[:, :2].std(axis=0), 1)
    assert np.all(x_train[:, 2] == 0) and np.all(x_test[:, 2] == 0)
    # The test rows are transformed with the training statistics: changing them changes nothing else.
    train_rows = X[y_train]
    expected = (X[y_test] - train_rows.mean(axis=0)) / np.where(
        train_rows.std(axis=0) > 0, train_rows.std(axis=0), 1
    )
    assert np.allclose(x_test, expected)
    X2 = X.copy()
    X2[y_test] *= 100
    assert np.array_equal(standardize_split(X2, y, 0.25, seed=1)[0], x_train)
