"""Merity et al.'s regularisers (charrnn_tui/model/charrnn.py), AdamW and Adam's beta2: what each one drops, that
they act in training only, and that the layer-at-a-time forward they need is the same network as the fused nn.LSTM."""

from __future__ import annotations

import pytest
import torch

from charrnn_tui.core.config import OPTIMIZERS, TUTORIAL, TrainConfig
from charrnn_tui.core.errors import CharRNNError
from charrnn_tui.model.charrnn import CharRNN, embedding_dropout, locked_dropout
from charrnn_tui.training.setup import make_optimizer

VOCAB = 20


def _x(seed: int = 0) -> torch.Tensor:
    return torch.randint(0, VOCAB, (3, 9), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_the_layer_at_a_time_forward_is_the_fused_one(cell: str) -> None:
    # Locked dropout with p = 0 takes the regularised path with nothing dropped: it must be the same network.
    torch.manual_seed(0)
    model = CharRNN(VOCAB, cell, 3, 16, 8, dropout=0.0, locked_dropout=True).train()
    state = None
    for seed in (0, 1):  # the second call carries the state of the first
        logits, new_state = model(_x(seed), state)
        fused, fused_state = CharRNN.forward(model.eval(), _x(seed), state)
        model.train()
        torch.testing.assert_close(logits, fused)
        for a, b in zip(
            new_state if isinstance(new_state, tuple) else (new_state,),
            fused_state if isinstance(fused_state, tuple) else (fused_state,),
            strict=True,
        ):
            assert a.shape == (3, 3, 16)
            torch.testing.assert_close(a, b)
        state = new_state


def test_regularisers_act_in_training_only() -> None:
    torch.manual_seed(0)
    model = CharRNN(VOCAB, "lstm", 2, 16, 8, dropout=0.4, weight_drop=0.5, embed_dropout=0.2, locked_dropout=True)
    plain = CharRNN(VOCAB, "lstm", 2, 16, 8)
    plain.load_state_dict(model.state_dict())  # the same parameters, the same names: checkpoints read both
    torch.testing.assert_close(model.eval()(_x())[0], plain.eval()(_x())[0])
    torch.manual_seed(1)
    a = model.train()(_x())[0]
    torch.manual_seed(2)
    b = model(_x())[0]
    assert not torch.allclose(a, b)  # two training passes draw two sets of masks


def test_weight_drop_gives_dropped_hidden_weights_no_gradient() -> None:
    torch.manual_seed(0)
    model = CharRNN(VOCAB, "lstm", 1, 32, 8, weight_drop=0.5).train()
    model(_x())[0].sum().backward()
    zero_hh = (model.rnn.weight_hh_l0.grad == 0).float().mean().item()
    zero_ih = (model.rnn.weight_ih_l0.grad == 0).float().mean().item()
    assert 0.4 < zero_hh < 0.6, zero_hh  # about half the recurrent weights were dropped for the whole sequence
    assert zero_ih < 0.05, zero_ih  # the input weights are not dropped


def test_locked_dropout_keeps_one_mask_across_time() -> None:
    torch.manual_seed(0)
    x = torch.ones(4, 50, 64)
    out = locked_dropout(x, 0.5)
    dropped = out == 0
    assert torch.equal(dropped, dropped[:, :1].expand_as(dropped))  # the same features at every step
    assert 0.35 < dropped[:, 0].float().mean().item() < 0.65
    assert not torch.equal(dropped[0, 0], dropped[1, 0])  # each sequence draws its own mask
    torch.testing.assert_close(out[~dropped], torch.full_like(out[~dropped], 2.0))  # survivors scaled by 1/(1-p)


def test_embedding_dropout_drops_whole_characters() -> None:
    torch.manual_seed(0)
    weight = torch.randn(200, 16)
    out = embedding_dropout(weight, 0.3)
    rows = (out == 0).all(dim=1)
    assert 0.2 < rows.float().mean().item() < 0.4
    torch.testing.assert_close(out[~rows], weight[~rows] / 0.7)
    assert ((out == 0).any(dim=1) == rows).all()  # a row goes whole or not at all


def test_the_optimizer_setting_chooses_adamw_s_decoupled_decay() -> None:
    model = CharRNN(VOCAB, "lstm", 1, 8, 4)
    assert type(make_optimizer(TrainConfig(), model)) is torch.optim.Adam
    adamw = make_optimizer(TrainConfig(optimizer="adamw", weight_decay=0.1, lr=0.01), model)
    assert type(adamw) is torch.optim.AdamW and adamw.defaults["weight_decay"] == 0.1


def test_adam_beta2_is_a_setting_and_the_tutorial_keeps_pytorch_s() -> None:
    model = CharRNN(VOCAB, "lstm", 1, 8, 4)
    for optimizer in OPTIMIZERS:
        opt = make_optimizer(TrainConfig(optimizer=optimizer, adam_beta2=0.95), model)
        assert opt.defaults["betas"] == (0.9, 0.95)
    assert make_optimizer(TUTORIAL, model).defaults["betas"] == (0.9, 0.999)


@pytest.mark.parametrize(
    ("setting", "value", "says"),
    [
        ("weight_drop", 1.0, "weight drop must be in [0, 1)"),
        ("embed_dropout", -0.1, "embedding dropout must be in [0, 1)"),
        ("locked_dropout", 1, "locked dropout must be true or false"),
        ("optimizer", "sgd", "optimizer must be one of adam, adamw"),
        ("adam_beta2", 1.0, "Adam beta2 must be in [0, 1)"),
        ("adam_beta2", True, "Adam beta2 must be a finite number"),
    ],
)
def test_bad_regulariser_settings_are_refused(setting: str, value: object, says: str) -> None:
    with pytest.raises(CharRNNError, match=says.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        TrainConfig(**{setting: value}).validate()
