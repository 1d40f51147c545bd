"""Trust Your Teacher: hand-computed losses, masking, gradient accumulation, AWP, teacher untouched."""

import copy
import math

import datasets
import pytest
import torch
from transformers import DataCollatorForTokenClassification, TrainingArguments

from scanner_hf import ScannerSpanDetector, ScannerSpanDetectorConfig
from scanner_hf.training.distillation import (
    WithTeacherLogits,
    add_teacher_logits,
    distillation_loss,
)
from scanner_hf.training.distillation_trainer import AWPSettings, DistillationTrainer


def test_alpha_one_is_cross_entropy_and_alpha_zero_is_kl():
    student = torch.tensor([[2.0, 0.0, -1.0]])
    teacher = torch.tensor([[0.0, 1.0, 0.0]])
    labels = torch.tensor([0])
    log_s = torch.log_softmax(student, -1)[0]
    p_t = torch.softmax(teacher, -1)[0]
    ce = -log_s[0].item()
    kl = sum(p_t[i].item() * (math.log(p_t[i].item()) - log_s[i].item()) for i in range(3))
    assert distillation_loss(student, teacher, labels, mode="fixed", fixed_alpha=1.0).loss.item() == pytest.approx(ce)
    assert distillation_loss(student, teacher, labels, mode="fixed", fixed_alpha=0.0).loss.item() == pytest.approx(kl)
    assert distillation_loss(student, None, labels, mode="none").loss.item() == pytest.approx(ce)
    tyt = distillation_loss(student, teacher, labels, mode="tyt")
    alpha = p_t[0].item()
    assert tyt.alpha.item() == pytest.approx(alpha)
    assert tyt.loss.item() == pytest.approx(alpha * ce + (1 - alpha) * kl)


def test_ignored_tokens_are_masked_and_sum_mode_divides_by_num_items():
    student = torch.randn(2, 4, 3)
    teacher = torch.randn(2, 4, 3)
    labels = torch.tensor([[-100, 1, 2, -100], [0, -100, -100, 1]])
    full = distillation_loss(student, teacher, labels, mode="tyt")
    assert full.alpha.shape == (4,)
    keep = labels != -100
    reduced = distillation_loss(student[keep][None], teacher[keep][None], labels[keep][None], mode="tyt")
    assert full.loss.item() == pytest.approx(reduced.loss.item())
    summed = distillation_loss(student, teacher, labels, mode="tyt", num_items_in_batch=8)
    assert summed.loss.item() == pytest.approx(full.loss.item() * 4 / 8)
    with pytest.raises(ValueError, match="needs teacher logits"):
        distillation_loss(student, None, labels, mode="tyt")


def token_dataset(n=8, length=6, seed=0):
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(n):
        ids = torch.randint(5, 40, (length,), generator=generator).tolist()
        labels = torch.randint(0, 3, (length,), generator=generator).tolist()
        labels[0] = labels[-1] = -100
        rows.append({"input_ids": ids, "attention_mask": [1] * length, "labels": labels})
    return datasets.Dataset.from_list(rows)


def make_detector(config, seed):
    """No dropout anywhere, so two runs see the same function."""
    torch.manual_seed(seed)
    encoder_config = config.__class__(**{**config.to_dict(), "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0})
    return ScannerSpanDetector(ScannerSpanDetectorConfig(encoder_config=encoder_config, classifier_dropout=0.0))


def gradients_after_one_step(model, dataset, collator, tmp_path, batch, accumulation, **trainer_kwargs):
    args = TrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=batch, gradient_accumulation_steps=accumulation,
        max_steps=1, learning_rate=0.0, report_to=[], save_strategy="no", use_cpu=True, seed=0,
        dataloader_drop_last=False,
    )
    trainer = DistillationTrainer(model=model, args=args, train_dataset=dataset, data_collator=collator, **trainer_kwargs)
    trainer.create_optimizer_and_scheduler(num_training_steps=1)
    captured = {}
    original_step = trainer.optimizer.step

    def capture_step(*a, **k):
        captured.update({n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None})
        return original_step(*a, **k)

    trainer.optimizer.step = capture_step
    trainer.train()
    return captured


def test_gradient_accumulation_matches_one_big_batch(tmp_path, tiny_tokenizer, tiny_encoder_config):
    # uneven labelled-token counts per half make a per-micro-batch mean differ from the exact loss
    dataset = token_dataset()
    rows = dataset.to_list()
    for row in rows[:4]:
        row["labels"] = [-100] * 5 + [1]
    dataset = datasets.Dataset.from_list(rows)
    teacher = make_detector(tiny_encoder_config, seed=1).eval()
    collator = DataCollatorForTokenClassification(tiny_tokenizer)
    cached = add_teacher_logits(teacher, dataset, collator)
    wrapped = WithTeacherLogits(collator)
    one = gradients_after_one_step(
        make_detector(tiny_encoder_config, 0), cached, wrapped, tmp_path / "a", 8, 1, distillation="tyt"
    )
    two = gradients_after_one_step(
        make_detector(tiny_encoder_config, 0), cached, wrapped, tmp_path / "b", 4, 2, distillation="tyt"
    )
    assert one and one.keys() == two.keys()
    for name in one:
        torch.testing.assert_close(one[name], two[name], rtol=1e-4, atol=1e-6)


def test_live_teacher_equals_cached_logits_and_is_never_updated(tmp_path, tiny_tokenizer, tiny_encoder_config):
    dataset = token_dataset()
    teacher = make_detector(tiny_encoder_config, seed=1).eval()
    before = copy.deepcopy(teacher.state_dict())
    collator = DataCollatorForTokenClassification(tiny_tokenizer)
    live = gradients_after_one_step(
        make_detector(tiny_encoder_config, 0), dataset, collator, tmp_path / "a", 8, 1,
        distillation="tyt", teacher_model=teacher,
    )
    cached = gradients_after_one_step(
        make_detector(tiny_encoder_config, 0), add_teacher_logits(teacher, dataset, collator),
        WithTeacherLogits(collator), tmp_path / "b", 8, 1, distillation="tyt",
    )
    for name in live:
        torch.testing.assert_close(live[name], cached[name], rtol=1e-4, atol=1e-6)
    for key, value in teacher.state_dict().items():
        assert torch.equal(value, before[key])
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())


def test_distillation_without_a_teacher_is_an_error(tmp_path, tiny_tokenizer, tiny_encoder_config):
    args = TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True)
    with pytest.raises(ValueError, match="needs teacher_model"):
        DistillationTrainer(model=make_detector(tiny_encoder_config, 0), args=args, train_dataset=token_dataset(), distillation="tyt")


def test_awp_changes_weights_only_temporarily(tmp_path, tiny_tokenizer, tiny_encoder_config):
    dataset = token_dataset()
    collator = DataCollatorForTokenClassification(tiny_tokenizer)
    model = make_detector(tiny_encoder_config, 0)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    awp = AWPSettings(start_epoch=0.0, learning_rate=0.5, epsilon=0.5)
    with_awp = gradients_after_one_step(model, dataset, collator, tmp_path / "a", 8, 1, awp=awp)
    for name, parameter in model.named_parameters():  # learning rate 0: any change would be AWP's
        assert torch.equal(parameter.detach(), before[name]), name
    plain = gradients_after_one_step(make_detector(tiny_encoder_config, 0), dataset, collator, tmp_path / "b", 8, 1)
    assert with_awp.keys() == plain.keys()
    assert any(not torch.allclose(with_awp[n], plain[n]) for n in plain)  # the adversarial pass added gradient
    late = gradients_after_one_step(
        make_detector(tiny_encoder_config, 0), dataset, collator, tmp_path / "c", 8, 1, awp=AWPSettings(start_epoch=5.0)
    )
    for name in plain:  # not switched on before its epoch
        torch.testing.assert_close(late[name], plain[name])
