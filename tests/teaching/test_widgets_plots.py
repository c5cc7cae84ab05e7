"""Plot helpers and widgets, driven programmatically (no notebook, Agg backend)."""

import matplotlib

matplotlib.use("Agg")

import jax
import jax.numpy as jnp
import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pytest
from flax import nnx

import jetbook as jb
from jetbook.flows import splits
from jetbook.teaching import plots, toys, widgets
from jetbook.teaching.brute_force import brute_force_logdet

TINY = dict(image_shape=(8, 8, 1), patch_size=2, num_couplings=5, vit_depth=1, vit_width=16,
            vit_heads=2)


@pytest.fixture(scope="module")
def model():
    """A tiny Jet moved away from the identity (host-side noise: no extra compiles)."""
    m = jb.Jet(jb.JetConfig(**TINY), rngs=nnx.Rngs(0))
    rng = np.random.default_rng(0)
    params = nnx.state(m, nnx.Param)
    nnx.update(m, jax.tree.map(
        lambda p: p + 0.1 * rng.standard_normal(p.shape).astype(np.float32), params))
    return m


@pytest.fixture(scope="module")
def digit():
    rng = np.random.default_rng(1)
    return rng.integers(0, 17, size=(8, 8, 1)).astype(np.uint8)


# -- plots ---------------------------------------------------------------------------------
def test_make_grid_shape_range_and_padding():
    x = jax.random.uniform(jax.random.key(0), (5, 8, 8, 1), minval=-1, maxval=1)
    grid = plots.make_grid(x, ncols=3)
    assert grid.shape == (2 * 9 - 1, 3 * 9 - 1, 1)
    assert grid.min() >= 0 and grid.max() <= 1
    np.testing.assert_allclose(grid[:8, :8], (np.asarray(x[0]) + 1) / 2, atol=1e-6)
    assert np.all(grid[8, :] == 1.0)                                  # padding row
    rgb = plots.make_grid(np.zeros((4, 6, 6, 3), np.uint8) + 255)
    assert rgb.shape == (13, 13, 3) and rgb.max() == 1.0


def test_to_unit_range_integers_and_levels():
    v = np.arange(17, dtype=np.uint8).reshape(1, 17, 1, 1)
    np.testing.assert_allclose(plots.to_unit_range(v, levels=17)[0, :, 0, 0], np.arange(17) / 16)
    x = jb.dequantize(jax.random.key(0), v, 17)                       # floats snap back to levels
    np.testing.assert_allclose(plots.to_unit_range(x, levels=17), plots.to_unit_range(v, 17))


def test_plot_input_errors():
    with pytest.raises(ValueError, match="images must have shape"):
        plots.make_grid(np.zeros((2, 8, 8, 2)))
    with pytest.raises(ValueError, match="levels"):
        plots.to_unit_range(np.zeros(3, np.uint8), levels=1)
    with pytest.raises(ValueError, match="matrix is required"):
        plots.split_pixel_mask("channel", (8, 8, 1), 2)
    with pytest.raises(ValueError, match="scale"):
        plots.save_image_grid("unused.png", np.zeros((1, 4, 4, 1)), scale=0)


def test_image_grid_draws_on_axes():
    fig, ax = plt.subplots()
    grid = plots.image_grid(np.zeros((3, 4, 4, 1)), ncols=3, ax=ax, title="t")
    assert grid.shape == (4, 14, 1) and len(ax.images) == 1 and ax.get_title() == "t"
    plt.close(fig)


def test_save_image_grid_writes_a_non_blank_png(tmp_path, digit):
    images = np.stack([digit, 16 - digit, np.zeros_like(digit)])
    path = plots.save_image_grid(tmp_path / "sub" / "samples.png", images, levels=17, ncols=3,
                                 scale=3)
    assert path.exists()
    png = matplotlib.image.imread(path)
    assert png.shape[:2] == (3 * 8, 3 * (3 * 9 - 1))
    assert png[..., :3].std() > 0.1


def test_split_pixel_mask_spatial_matches_the_patch_grid():
    mask = plots.split_pixel_mask("rows", (8, 12, 3), 2)
    assert mask.shape == (8, 12, 3)
    expected = np.kron(splits.spatial_mask("rows", (4, 6)), np.ones((2, 2), bool))
    assert np.array_equal(mask[..., 1], expected) and np.array_equal(mask[..., 0], mask[..., 2])


def test_split_pixel_mask_channel_marks_exactly_the_x1_features():
    shape, p = (4, 6, 3), 2
    w = splits.channel_split_matrix(0, p * p * 3)
    image = np.arange(np.prod(shape), dtype=np.float32).reshape(1, *shape)   # unique values
    x1, _ = splits.split(jb.patchify(image, p), w, splits.FEATURE_AXIS)
    mask = plots.split_pixel_mask("channel", shape, p, w)
    assert set(np.asarray(x1).ravel().tolist()) == set(image[0][mask].tolist())


def test_show_split_and_pairing():
    fig, (a, b) = plt.subplots(1, 2)
    frac = plots.show_split(np.zeros((8, 8, 1), np.uint8), "checkerboard", 2, ax=a)
    assert frac.shape == (8, 8) and frac.mean() == 0.5 and len(a.images) == 2
    pairs = plots.show_pairing("rows", (4, 4), ax=b)
    assert np.array_equal(pairs[:, 1] - pairs[:, 0], np.full(8, 4))   # the patch one row below
    plt.close(fig)


# -- widgets -------------------------------------------------------------------------------
def test_split_explorer_follows_coupling_and_kind(model, digit):
    cfg = model.config
    explorer = widgets.SplitExplorer(model, digit, levels=17)
    assert explorer.kind.value == cfg.coupling_kinds[0] == "channel"
    channel = np.asarray(model.channel_splits[...])
    expected0 = plots.split_pixel_mask("channel", cfg.image_shape, 2, channel[0])
    assert np.array_equal(explorer.mask, expected0)
    count, png = explorer.render_count, explorer.last_png

    explorer.coupling.value = 1                                       # another channel coupling
    assert np.array_equal(explorer.mask, plots.split_pixel_mask("channel", cfg.image_shape, 2, channel[1]))
    assert explorer.render_count == count + 1 and explorer.last_png != png
    assert explorer.figure_image.value == explorer.last_png             # what a notebook displays

    explorer.coupling.value = 4                                       # the spatial coupling
    assert explorer.kind.value == cfg.coupling_kinds[4] == "checkerboard"
    assert explorer.render_count == count + 2                         # one redraw per change
    grid_mask = lambda kind: np.kron(splits.spatial_mask(kind, cfg.grid), np.ones((2, 2)))
    np.testing.assert_array_equal(explorer.last_figure_data, grid_mask("checkerboard"))

    explorer.kind.value = "cols-inv"                                  # any kind, by dropdown
    np.testing.assert_array_equal(explorer.last_figure_data, grid_mask("cols-inv"))


def test_split_explorer_accepts_a_config_and_rejects_bad_input(digit):
    cfg = jb.JetConfig(**TINY)
    explorer = widgets.SplitExplorer(cfg, digit[None])
    assert explorer.mask.sum() == explorer.mask.size // 2
    with pytest.raises(ValueError, match="model_or_config"):
        widgets.SplitExplorer("digits", digit)
    with pytest.raises(ValueError, match="image must have shape"):
        widgets.SplitExplorer(cfg, np.zeros((4, 4, 1)))


def test_latent_explorer_shows_the_trace_on_one_scale(model, digit):
    explorer = widgets.LatentExplorer(model, digit, levels=17)
    x = jnp.asarray(explorer.image)[None]
    np.testing.assert_allclose(x[0], (digit + 0.5) * 2 / 17 - 1, atol=1e-6)
    trace = np.asarray(model.forward_path(x))
    np.testing.assert_array_equal(explorer.last_figure_data, trace[0, 0])
    peak = np.abs(trace).max()
    for k in (0, 2, model.config.num_couplings):
        before = explorer.render_count
        explorer.depth.value = k
        assert explorer.render_count == before + (k != 0)
        np.testing.assert_allclose(explorer.last_figure_data, trace[k, 0], atol=1e-6)
        # the grey image drawn is the latent over the peak of the WHOLE path, not its own peak
        shown = np.asarray(explorer.last_figure.axes[1].images[0].get_array())
        np.testing.assert_allclose((2 * shown - 1) * peak, trace[k, 0, ..., 0], atol=1e-4)
        assert explorer.last_figure.axes[2].get_xlim() == pytest.approx((-peak, peak))
    assert np.abs(trace[0]).max() < peak * 0.9    # so an own-peak rescale would have differed
    assert not np.allclose(trace[-1], trace[0])                       # the model is not the identity


def test_bijection_explorer_density_and_jacobian_follow_the_sliders():
    explorer = widgets.BijectionExplorer(n=2000)
    pngs = [explorer.last_png]
    for control, value in ((explorer.rate, 1.7), (explorer.offset, -0.8)):
        control.value = value
        pngs.append(explorer.last_png)
        f = toys.SinhMap1D(rate=explorer.rate.value, offset=explorer.offset.value)
        y = explorer.last_figure_data["y"]
        np.testing.assert_allclose(explorer.last_figure_data["log_density"],
                                   toys.pushforward_log_prob(f, y), atol=1e-5)
        d_inverse = jax.vmap(jax.grad(f.inverse))(jnp.asarray(y))          # autodiff |dx/dy|
        np.testing.assert_allclose(explorer.last_figure_data["log_jacobian"],
                                   np.log(np.abs(d_inverse)), atol=1e-4)
        drawn = explorer.last_figure.axes[0].lines[0].get_ydata()         # the curve on screen
        np.testing.assert_allclose(drawn, np.exp(toys.pushforward_log_prob(f, y)), atol=1e-5)
    assert explorer.render_count == 3 and len(set(pngs)) == 3
    with pytest.raises(ValueError, match="y_range"):
        widgets.BijectionExplorer(y_range=(2.0, -2.0))
    with pytest.raises(ValueError, match=r"rate must be in \[0.25, 2.5\], got 0"):
        widgets.BijectionExplorer(rate=0)                             # not a bijection


def test_coupling_explorer_matches_the_library_and_the_full_jacobian():
    points = np.random.default_rng(2).standard_normal((16, 2)).astype(np.float32)
    explorer = widgets.CouplingExplorer(points)
    np.testing.assert_allclose(explorer.last_figure_data["y"], points, atol=1e-6)   # b=s=0, m=2
    np.testing.assert_allclose(explorer.last_figure_data["logdet"], 0.0, atol=1e-6)
    explorer.b.value, explorer.s.value, explorer.m.value = 1.2, -1.5, 3.0
    assert explorer.render_count == 4
    b, s, m = 1.2, -1.5, 3.0
    coupling = lambda p: jnp.concatenate(
        [p[:, :1], jb.coupling.affine_forward(p[:, 1:], b * p[:, :1], s * p[:, :1], m)[0]], -1)
    np.testing.assert_allclose(explorer.last_figure_data["y"], coupling(points), atol=1e-5)
    np.testing.assert_allclose(explorer.last_figure_data["logdet"],
                               brute_force_logdet(coupling, jnp.asarray(points)), atol=1e-4)
    colours = explorer.last_figure.axes[1].collections[0].get_array()   # what the dots show
    np.testing.assert_allclose(colours, explorer.last_figure_data["logdet"], atol=1e-6)
    with pytest.raises(ValueError, match="points must have shape"):
        widgets.CouplingExplorer(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"m must be in \[0.5, 4.0\]"):
        widgets.CouplingExplorer(points, m=10.0)


def test_flow_stepper_steps_through_forward_path():
    flow = toys.ToyFlow(num_couplings=3, hidden=4, depth=1, rngs=nnx.Rngs(0))
    rng = np.random.default_rng(3)
    nnx.update(flow, jax.tree.map(lambda p: p + 0.3 * rng.standard_normal(p.shape).astype(np.float32),
                                  nnx.state(flow, nnx.Param)))           # away from the identity
    points = rng.standard_normal((1024, 2)).astype(np.float32)    # as many as the grid lines'
    stepper = widgets.FlowStepper(flow, points, num_lines=4)          # points: one set of compiles
    trace = np.asarray(flow.forward_path(points))
    np.testing.assert_array_equal(stepper.last_figure_data, points)
    stepper.back.click()                                              # clamped at depth 0
    assert stepper.depth.value == 0 and stepper.render_count == 1
    for k in (1, 2, 3, 3):
        stepper.step.click()
        assert stepper.depth.value == k
        np.testing.assert_allclose(stepper.last_figure_data, trace[k], atol=1e-5)
        drawn = stepper.last_figure.axes[0].collections[0].get_offsets()
        np.testing.assert_allclose(drawn, trace[k], atol=1e-5)
    assert stepper.render_count == 4                                  # no redraw past the end
    np.testing.assert_allclose(stepper.last_figure_data, flow(points)[0], atol=1e-5)
    assert not np.allclose(trace[-1], trace[0])
    with pytest.raises(ValueError, match="flow must be"):
        widgets.FlowStepper(jb.JetConfig(**TINY), points)


def test_sample_explorer_matches_jb_sample(model):
    explorer = widgets.SampleExplorer(model, 17, n=4, temperature=0.7, seed=3)
    np.testing.assert_allclose(explorer.last_figure_data,
                               jb.sample(model, jax.random.key(3), 4, 0.7), atol=1e-5)
    first = explorer.samples
    explorer.temperature.value = 0.0                                  # T = 0: every z is 0
    np.testing.assert_allclose(explorer.samples, np.repeat(explorer.samples[:1], 4, 0), atol=1e-6)
    assert not np.allclose(explorer.samples, first)
    explorer.temperature.value = 0.7
    np.testing.assert_allclose(explorer.samples, first, atol=1e-6)
    explorer.regenerate.click()                                       # new seed, new samples
    assert explorer.seed.value == 4 and not np.allclose(explorer.samples, first)
    assert explorer.render_count == 4
    with pytest.raises(ValueError, match="model must be a jetbook flow"):
        widgets.SampleExplorer(model.config)


def test_live_training_plot_records_and_redraws():
    plot = widgets.LiveTrainingPlot()
    for step in range(0, 50, 10):
        plot({"step": step, "train_bpd": jnp.float32(5.0 - step / 100), "lr": 1e-3})
    plot({"step": 50, "test_bpd": 4.7})
    plot.update(60, train_bpd=4.3, test_bpd=4.6)
    assert plot.history["train_bpd"][0] == (0, 5.0) and len(plot.history["train_bpd"]) == 6
    assert plot.history["test_bpd"] == [(50, 4.7), (60, 4.6)]
    assert plot.render_count == 7 and plot.last_png
    np.testing.assert_allclose(plot.last_figure_data["test_bpd"], [[50, 4.7], [60, 4.6]])
    with pytest.raises(ValueError, match="record must be a dict with a 'step' key"):
        plot({"train_bpd": 1.0})
    with pytest.raises(ValueError, match="step must be an integer"):
        plot.update("soon", train_bpd=1.0)


def test_live_training_plot_throttles_train_updates_only():
    plot = widgets.LiveTrainingPlot(min_interval_s=3600)
    plot.update(0, train_bpd=5.0)                                     # first update draws
    plot.update(1, train_bpd=4.9)                                     # throttled
    assert plot.render_count == 1 and len(plot.history["train_bpd"]) == 2
    plot.update(2, test_bpd=4.8)                                      # evaluations always draw
    assert plot.render_count == 2
    plot.draw()
    assert plot.render_count == 3
