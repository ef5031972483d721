"""Trains a tiny logistic-regression model as a small sweep over learning rates and seeds, logged to W&B offline.

    python examples/train.py --out demo

No downloads and no account: the data is generated here, and W&B writes run folders under OUT/wandb, which
`wandb_spreadsheet_sync.py --source OUT` reads. The sweep is a grid over three learning rates x three seeds, run
the way a W&B agent runs one (each run carries the sweep id, each learning rate is a group, so the groups tab
shows the mean and spread over seeds); its config is saved as OUT/sweep-<id>.yaml, since offline run folders keep
only the sweep's id. One more run, outside the sweep, uses a learning rate that diverges: its loss becomes NaN
and the run fails (exit code 1), as real ones do.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random

SWEEP_ID = "lrseed01"  # W&B names sweeps with 8 characters; offline there is no server to name it
SWEEP = {"name": "lr x seed", "method": "grid", "metric": {"name": "val/loss", "goal": "minimize"},
         "parameters": {"lr": {"values": [0.05, 0.2, 0.5]}, "seed": {"values": [0, 1, 2]}}}
BASE = {"epochs": 15, "batch_size": 16, "l2": 0.001, "optimizer": "momentum"}
RUNS = [dict(BASE, lr=lr, seed=seed) for lr in SWEEP["parameters"]["lr"]["values"]
        for seed in SWEEP["parameters"]["seed"]["values"]]
DIVERGING = {"lr": 1e7, "epochs": 10, "batch_size": 16, "l2": 0.0, "optimizer": "sgd", "seed": 0}


def make_data(n: int, seed: int) -> list[tuple[float, float, int]]:
    rng = random.Random(seed)
    data = []
    for _ in range(n):
        label = rng.random() < 0.5
        cx, cy = (1.5, 1.0) if label else (-1.0, -1.2)
        data.append((rng.gauss(cx, 1.2), rng.gauss(cy, 1.2), int(label)))
    return data


def sigmoid(z: float) -> float:
    if z < -60:
        return 0.0
    return 1.0 / (1.0 + math.exp(-z)) if z < 60 else 1.0


def evaluate(w: list[float], data) -> tuple[float, float]:
    loss, correct = 0.0, 0
    for x, y, label in data:
        p = sigmoid(w[0] * x + w[1] * y + w[2])
        p = min(max(p, 1e-12), 1 - 1e-12)
        loss -= label * math.log(p) + (1 - label) * math.log(1 - p)
        correct += (p > 0.5) == bool(label)
    return loss / len(data), correct / len(data)


def train(cfg: dict, run, seed: int) -> bool:
    """Mini-batch gradient descent; returns False when the weights blow up."""
    rng = random.Random(seed)
    train_set, val_set = make_data(800, seed), make_data(200, seed + 1000)
    w, velocity = [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]
    for epoch in range(cfg["epochs"]):
        rng.shuffle(train_set)
        for start in range(0, len(train_set), cfg["batch_size"]):
            batch = train_set[start:start + cfg["batch_size"]]
            grad = [0.0, 0.0, 0.0]
            for x, y, label in batch:
                err = sigmoid(w[0] * x + w[1] * y + w[2]) - label
                grad[0] += err * x
                grad[1] += err * y
                grad[2] += err
            for i in range(3):
                g = grad[i] / len(batch) + cfg["l2"] * w[i]
                velocity[i] = (0.9 * velocity[i] if cfg["optimizer"] == "momentum" else 0.0) + g
                w[i] -= cfg["lr"] * velocity[i]
        train_loss, train_acc = evaluate(w, train_set)
        val_loss, val_acc = evaluate(w, val_set)
        exploded = any(abs(v) > 1e6 for v in w)
        run.log({"epoch": epoch + 1, "train/loss": math.nan if exploded else train_loss,
                 "val/loss": math.nan if exploded else val_loss, "train/acc": train_acc, "val/acc": val_acc})
        if exploded:
            return False
    run.summary["val/best_acc"] = val_acc
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="demo", help="folder for W&B's run folders (default demo)")
    parser.add_argument("--project", default="demo-logreg")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    os.environ.update(WANDB_MODE="offline", WANDB_SILENT="true", WANDB_DIR=args.out, WANDB_CONSOLE="off",
                      WANDB_DISABLE_GIT="true", WANDB_DISABLE_CODE="true")
    import wandb

    with open(os.path.join(args.out, f"sweep-{SWEEP_ID}.yaml"), "w") as fh:
        json.dump(SWEEP, fh, indent=2)  # JSON is YAML: what `wandb sweep` would have been given
    for cfg, sweep in [(cfg, SWEEP_ID) for cfg in RUNS] + [(DIVERGING, None)]:
        run = wandb.init(project=args.project, dir=args.out, config=cfg,
                         name=f"logreg-lr{cfg['lr']:g}-s{cfg['seed']}", tags=["demo", cfg["optimizer"]],
                         group=f"lr={cfg['lr']:g}", job_type="train",
                         settings=wandb.Settings(console="off", save_code=False, disable_git=True,
                                                 x_disable_stats=True, silent=True, sweep_id=sweep))
        ok = train(cfg, run, seed=cfg["seed"])
        run.finish(exit_code=0 if ok else 1)
        print(f"run {run.id}: lr={cfg['lr']:g} seed={cfg['seed']} {'finished' if ok else 'FAILED (loss is NaN)'}")


if __name__ == "__main__":
    main()
