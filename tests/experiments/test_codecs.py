import numpy as np
import pytest

from jetbook.experiments import baselines

RNG = np.random.default_rng(0)
NOISE = RNG.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
CONSTANT = np.full((5, 32, 32, 3), 97, np.uint8)
# a smooth picture with some texture: what a lossless codec must give back exactly
SMOOTH = np.clip(np.add.outer(np.arange(32), np.arange(32))[None, :, :, None] * 4
                 + RNG.integers(0, 3, (5, 32, 32, 3)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("codec", baselines.available_codecs())
def test_codec_is_lossless_and_compresses(codec):
    for one_file in (False, True):
        constant = baselines.codec_bpd(CONSTANT, codec, one_file=one_file)
        assert constant < 0.25 * baselines.codec_bpd(NOISE, codec, one_file=one_file)
    assert baselines.codec_bpd(NOISE, codec) > 8.0                # noise does not compress
    for image in (NOISE[0], SMOOTH[1], SMOOTH[2, :, :, :1]):         # colour and grey
        back = baselines.decode(baselines.encode(image, codec), image.shape[-1])
        np.testing.assert_array_equal(back, image)
    tiled = baselines.tile(SMOOTH)
    np.testing.assert_array_equal(baselines.decode(baselines.encode(tiled, codec), 3), tiled)


def test_tile_keeps_every_pixel_and_container_shows_in_the_table():
    tiled = baselines.tile(SMOOTH)                       # 5 crops -> 3 x 2 grid, one black slot
    assert tiled.shape == (64, 96, 3) and tiled.dtype == np.uint8
    np.testing.assert_array_equal(tiled[32:64, 0:32], SMOOTH[3])
    assert not tiled[32:, 64:].any()
    rows = baselines.codec_table(SMOOTH, flows={"flow": 1.5}, codecs=("png", "webp"))
    assert [r["name"] for r in rows] == ["flow", "png", "webp"]
    assert rows[0]["per_file_bpd"] == rows[0]["one_file_bpd"] == 1.5
    for row in rows[1:]:                                  # one file pays the container once
        assert row["one_file_bpd"] < row["per_file_bpd"]
    assert "| flow | 1.500 | 1.500 |" in baselines.format_codec_table(rows)


def test_bad_codec_and_images():
    with pytest.raises(ValueError, match="codec must be one of"):
        baselines.codec_bpd(SMOOTH, "avif")
    with pytest.raises(ValueError, match="images must be uint8"):
        baselines.codec_bpd(SMOOTH.astype(np.float32), "png")


def test_missing_jpeg_xl_plugin_names_the_extra(monkeypatch):
    monkeypatch.setattr(baselines, "available_codecs", lambda: ("png", "webp"))
    with pytest.raises(ValueError, match=r'pip install "jetbook\[codecs\]"'):
        baselines.encode(SMOOTH[0], "jpeg-xl")
