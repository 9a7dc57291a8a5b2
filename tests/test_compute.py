"""Compute accounting: FLOP counts against hand counts, budget strings, the meter and the budget stopper."""

from __future__ import annotations

import pytest
import torch

from v2f_bench.compute import ComputeMeter, StepFlops, format_flops, make_stopper, parse_compute_budget
from v2f_bench.errors import UserError
from v2f_bench.models.registry import FAMILIES

B, E, S = 5, 3, 16
"""A tiny batch: 5 samples, 3-d voice embeddings, 16x16 faces."""


def linear(i: int, o: int) -> int:
    """Forward FLOPs of a dense layer on the batch: 2 * B * in * out (one multiply-add = 2 FLOPs)."""
    return 2 * B * i * o


def conv(cin: int, cout: int, hout: int, k: int) -> int:
    """Forward FLOPs of a k x k convolution: 2 * B * Cout * Hout^2 * Cin * k^2."""
    return 2 * B * cout * hout * hout * cin * k * k


def conv_t(cin: int, hin: int, cout: int, k: int) -> int:
    """Forward FLOPs of a k x k transposed convolution: 2 * B * Cin * Hin^2 * Cout * k^2."""
    return 2 * B * cin * hin * hin * cout * k * k


def counted(family, batch: int = B) -> int:
    _, flops = StepFlops().run(batch, lambda: family.train_step(torch.randn(batch, E), torch.rand(batch, 3, S, S)))
    return flops


def test_a_vae_step_counts_forward_plus_weight_and_input_gradients_by_hand():
    h, z, dc = 4, 2, 2
    vae = FAMILIES["vae"]({"hidden_units": h, "latent_dim": z, "decoder_channels": dc}, embed_dim=E, image_size=S)
    layers = [linear(E, h), linear(h, h), linear(h, 2 * z), linear(z, 32 * (S // 4) ** 2), conv_t(32, S // 4, dc, 5), conv_t(dc, S // 2, 3, 5)]
    # backward: every layer's weight gradient (= its forward) and input gradient (= its forward), except
    # the first layer's input gradient, since the voice embedding needs none
    assert counted(vae) == 3 * sum(layers) - layers[0]


@pytest.mark.parametrize("name", ["cgan", "rcgan"])
def test_a_gan_step_counts_one_discriminator_and_two_generator_updates_by_hand(name):
    c, g = 2, S // 16
    gan = FAMILIES[name]({"g_channels": c, "d_channels": c, "g_steps": 2}, embed_dim=E, image_size=S)
    generator = [linear(E, 128), linear(128, 8 * c * g * g), conv_t(8 * c, g, 4 * c, 4), conv_t(4 * c, 2 * g, 2 * c, 4),
                 conv_t(2 * c, 4 * g, c, 4), conv_t(c, 8 * g, 3, 4)]
    image = [conv(3, c, S // 2, 4), conv(c, 2 * c, S // 4, 4), conv(2 * c, 4 * c, S // 8, 4), conv(4 * c, 8 * c, S // 16, 4)]
    voice = linear(E, 128)
    joint = [conv(8 * c + 128, 8 * c, g, 3), linear(8 * c * g * g, 1)]
    d = sum(image) + voice + sum(joint)
    # discriminator update: a no-grad generator pass, D on real and on fake, and D's backward for both
    # (weights everywhere; inputs except the images and the voice, which need no gradient)
    d_step = sum(generator) + 2 * d + 2 * (2 * d - image[0] - voice)
    # generator update: G and D forward, D backward into the fake image (all but the voice input), G backward
    g_step = sum(generator) + d + (2 * d - voice) + (2 * sum(generator) - generator[0])
    assert counted(gan) == d_step + 2 * g_step


def test_the_pixel_term_adds_no_counted_flops_so_cgan_and_rcgan_steps_cost_the_same():
    config = {"g_channels": 2, "d_channels": 2}
    assert counted(FAMILIES["cgan"](config, embed_dim=E, image_size=S)) == counted(FAMILIES["rcgan"](config, embed_dim=E, image_size=S))


def test_a_batch_size_is_counted_once_and_its_count_reused():
    vae = FAMILIES["vae"]({"hidden_units": 4, "latent_dim": 2}, embed_dim=E, image_size=S)
    flops = StepFlops()
    calls = []

    def step():
        calls.append(1)
        return vae.train_step(torch.randn(B, E), torch.rand(B, 3, S, S))

    first = flops.run(B, step)[1]
    assert flops.run(B, step)[1] == first and len(calls) == 2 and list(flops.per_batch) == [B]


def test_the_meter_accumulates_steps_and_images_and_resumes_from_its_state():
    vae = FAMILIES["vae"]({"hidden_units": 4, "latent_dim": 2}, embed_dim=E, image_size=S)
    meter = ComputeMeter(cpus=2.0, gpus=0.0)
    for _ in range(3):
        meter.step(B, lambda: vae.train_step(torch.randn(B, E), torch.rand(B, 3, S, S)))
    row = meter.row()
    assert (row["train_steps"], row["images_seen"]) == (3, 3 * B)
    assert row["train_flops"] == 3 * meter.step_flops.per_batch[B]
    assert row["cpu_s"] > 0 and row["gpu_s"] == 0
    state = meter.state()
    resumed = ComputeMeter(cpus=2.0, gpus=0.0, state=state)
    assert resumed.row()["train_flops"] == row["train_flops"] and resumed.held_s >= state["held_s"] > 0


@pytest.mark.parametrize(("text", "amount", "unit"), [
    ("2e15", 2e15, "flops"), ("2PFLOP", 2e15, "flops"), ("350 TFLOP", 3.5e14, "flops"), ("7.5GFLOPs", 7.5e9, "flops"),
    ("600cpu-s", 600.0, "cpu-s"), ("2gpu-h", 7200.0, "gpu-s"), ("30 cpu-min", 1800.0, "cpu-s"),
])
def test_budget_strings_give_flops_or_resource_seconds(text, amount, unit):
    budget = parse_compute_budget(text)
    assert (budget.amount, budget.unit) == (pytest.approx(amount), unit)


@pytest.mark.parametrize("text", ["lots", "2 hours", "-5", "0", "2XFLOP", "10tpu-s"])
def test_a_budget_string_that_cannot_be_parsed_is_a_one_line_error(text):
    with pytest.raises(UserError) as error:
        parse_compute_budget(text)
    assert "--compute-budget" in str(error.value) and "\n" not in str(error.value)


def test_a_flop_budget_counts_training_or_training_and_evaluation():
    train, total = parse_compute_budget("2e12"), parse_compute_budget("2e12", "train+eval")
    assert (train.counts, train.key) == ("train", "train_flops") and (total.counts, total.key) == ("train+eval", "total_flops")
    assert total.as_dict()["counts"] == "train+eval"
    assert parse_compute_budget("600cpu-s").counts == "train+eval", "resource-seconds hold evaluation too"
    with pytest.raises(UserError, match="--budget-counts 'eval'"):
        parse_compute_budget("2e12", "eval")
    spent = {"flops": 1.5e12, "eval_flops": 0.6e12, "cpu_s": 10.0}
    assert train.counted(spent) == 1.5e12 and total.counted(spent) == 2.1e12, "the search record's stopped_by_budget reads this"
    stopper = make_stopper(total)
    assert not stopper("a", {"train_flops": 1.5e12, "total_flops": 1.9e12}) and stopper("a", {"train_flops": 1.6e12, "total_flops": 2.1e12})


def test_one_face_is_counted_as_evaluation():
    meter = ComputeMeter(1, 0)
    layer = torch.nn.Linear(4, 3)
    assert meter.per_face(lambda: layer(torch.zeros(1, 4))) == 2 * 4 * 3 == meter.eval_flops
    assert meter.row()["total_flops"] == meter.train_flops + meter.eval_flops == 24


def test_flops_are_printed_with_an_si_prefix():
    assert format_flops(2.31e15) == "2.31 PFLOP" and format_flops(512) == "512 FLOP"


def test_the_stopper_sums_each_trials_latest_count_and_stops_all_once_the_budget_is_spent():
    stopper = make_stopper(parse_compute_budget("100"))
    assert not stopper("a", {"train_flops": 40.0}) and not stopper("b", {"train_flops": 30.0})
    assert not stopper("a", {"train_flops": 60.0})  # cumulative: a's 60 replaces its 40
    assert stopper.spent == 90.0 and not stopper.stop_all()
    assert stopper("b", {"train_flops": 45.0}) and stopper.stop_all()
