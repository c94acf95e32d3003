#!/usr/bin/env bash
# Accuracy recipes on Fashion-MNIST (the table in docs/performance.md). Each line is one
# run; the run folder runs/recipe-<name>/metrics.json holds the test accuracy and the time
# per epoch.
# Fashion-MNIST comes from Debian's dataset-fashion-mnist package or
# `glassnet data download fashion-mnist`.
set -euo pipefail
glassnet train --data fashion-mnist --model softmax --epochs 20 --batch-size 64 --lr 2e-3 --weight-decay 1e-5 --name recipe-softmax --overwrite
glassnet train --data fashion-mnist --model fc --hidden 512,256 --dropout 0.2 --epochs 20 --batch-size 128 --lr 1e-3 --name recipe-fc --overwrite
glassnet train --data fashion-mnist --model cnn --epochs 6 --batch-size 128 --lr 3e-3 --name recipe-cnn --overwrite
glassnet train --data fashion-mnist --model examples/fashion_cnn3.toml --epochs 12 --batch-size 128 --lr 3e-3 --dropout 0.3 --augment flip --name recipe-cnn3 --overwrite
glassnet train --data fashion-mnist --model examples/fashion_cnn3.toml --epochs 10 --batch-size 128 --lr 3e-3 --dropout 0.3 --augment flip --train-on-val --name recipe-cnn3-final --overwrite
