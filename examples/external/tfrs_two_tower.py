#!/usr/bin/env python3
"""A TensorFlow Recommenders two-tower retriever as an external recsweep model.

Run by recsweep once per trial (docs/external.md); writes user and item
embeddings (`output: embeddings`), which recsweep scores by dot product, so the
model can also retrieve behind recsweep's HNSW or IVF index in a pipeline.
Needs, outside recsweep: pip install tensorflow-cpu tensorflow-recommenders
tf-keras, and TF_USE_LEGACY_KERAS=1 in the environment (TFRS 0.7 is written
for Keras 2). experiments/external-tfrs-ml100k.yaml sweeps it beside
recsweep's own two_tower.

Params (params.json), chosen to mean what recsweep's two_tower params mean:
  dim (64), hidden ([128]): id embeddings, then dense ReLU layers and a linear
    output to dim, per tower; hidden [] = embeddings only.
  normalize (true): L2-normalise both outputs (scores are cosines).
  temperature (0.1): the in-batch softmax's logits are divided by it.
  dropout (0.0): dropped inputs of every dense layer, during training.
  l2 (0.0): Keras L2 penalty on every embedding and kernel (added to the loss,
    as weight decay's gradient; its scale is TFRS's, not recsweep's).
  popularity: {method: none} or {method: logq, alpha: A}: the sampled-softmax
    correction of Yi et al. 2019, logits minus A·log q_j with q_j the item's
    share of train interactions (TFRS's candidate_sampling_probability).
    Other methods are refused.
  epochs (10), batch_size (256), learning_rate (0.003): Adam.
The seed, the threads and the users to embed come from trial.json.
"""
import json
import os
import sys


def read_rows(path):
    with open(path, encoding="utf-8") as f:
        next(f)
        return [line.rstrip("\n").split("\t") for line in f]


def main():
    inp, out = os.environ["RECSWEEP_INPUT"], os.environ["RECSWEEP_OUTPUT"]
    params = json.load(open(os.path.join(inp, "params.json")))
    trial = json.load(open(os.path.join(inp, "trial.json")))
    popularity = params.get("popularity", {"method": "none"})
    if popularity["method"] not in ("none", "logq"):
        sys.exit(f"popularity method {popularity['method']} is not implemented here (none, logq)")
    if trial["output"] != "embeddings":
        sys.exit("this model writes embeddings: set output: embeddings")

    # Threads and seeds before TensorFlow starts its pools.
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf
    import tensorflow_recommenders as tfrs

    tf.config.threading.set_intra_op_parallelism_threads(trial["threads"])
    tf.config.threading.set_inter_op_parallelism_threads(1)
    # recsweep's seeds are 64-bit; NumPy's legacy seeding takes 32 bits.
    seed = trial["seed"] % 2**32
    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()

    train = read_rows(os.path.join(inp, "train.tsv"))
    targets = [r[0] for r in read_rows(os.path.join(inp, "users.tsv"))]
    catalogue = [r[0] for r in read_rows(os.path.join(inp, "items.tsv"))]
    users = sorted(set(targets) | {r[0] for r in train})
    user_index = {u: k for k, u in enumerate(users)}
    item_index = {i: k for k, i in enumerate(catalogue)}
    u = np.array([user_index[r[0]] for r in train], dtype=np.int32)
    i = np.array([item_index[r[1]] for r in train], dtype=np.int32)
    counts = np.bincount(i, minlength=len(catalogue)).astype(np.float64)
    share = counts / counts.sum()

    dim = int(params.get("dim", 64))
    hidden = [int(h) for h in params.get("hidden", [128])]
    normalize = bool(params.get("normalize", True))
    temperature = float(params.get("temperature", 0.1))
    dropout = float(params.get("dropout", 0.0))
    l2 = float(params.get("l2", 0.0))
    alpha = float(popularity.get("alpha", 1.0)) if popularity["method"] == "logq" else 0.0
    reg = tf.keras.regularizers.l2(l2) if l2 > 0 else None

    class Tower(tf.keras.Model):
        def __init__(self, n):
            super().__init__()
            self.embedding = tf.keras.layers.Embedding(n, dim, embeddings_regularizer=reg)
            # Dropout on the input of every dense layer; ReLU on the hidden
            # ones, a linear output to dim.
            widths = hidden + [dim] if hidden else []
            self.stack = []
            for k, width in enumerate(widths):
                if dropout > 0:
                    self.stack.append(tf.keras.layers.Dropout(dropout))
                relu = "relu" if k < len(widths) - 1 else None
                self.stack.append(
                    tf.keras.layers.Dense(width, activation=relu, kernel_regularizer=reg)
                )

        def call(self, ids, training=False):
            x = self.embedding(ids)
            for layer in self.stack:
                x = layer(x, training=training)
            return tf.math.l2_normalize(x, axis=1) if normalize else x

    class TwoTower(tfrs.Model):
        def __init__(self):
            super().__init__()
            self.users = Tower(len(users))
            self.items = Tower(len(catalogue))
            self.task = tfrs.tasks.Retrieval(temperature=temperature)
            self.share = tf.constant(share, dtype=tf.float32)

        def compute_loss(self, features, training=False):
            q = self.users(features["user"], training=training)
            c = self.items(features["item"], training=training)
            # log(q^alpha) = alpha·log q: TFRS subtracts the log of what it gets.
            p = tf.pow(tf.gather(self.share, features["item"]), alpha) if alpha > 0 else None
            return self.task(q, c, candidate_sampling_probability=p)

    model = TwoTower()
    model.compile(optimizer=tf.keras.optimizers.Adam(float(params.get("learning_rate", 0.003))))
    data = (
        tf.data.Dataset.from_tensor_slices({"user": u, "item": i})
        .shuffle(len(u), seed=seed, reshuffle_each_iteration=True)
        .batch(int(params.get("batch_size", 256)))
    )
    history = model.fit(data, epochs=int(params.get("epochs", 10)), verbose=0)
    with open(os.path.join(out, "progress.jsonl"), "w") as f:
        for epoch, loss in enumerate(history.history["loss"], 1):
            f.write(json.dumps({"epoch": epoch, "loss": float(loss)}) + "\n")

    user_vectors = model.users(np.array([user_index[t] for t in targets], dtype=np.int32)).numpy()
    item_vectors = model.items(np.arange(len(catalogue), dtype=np.int32)).numpy()
    header = "\t".join(f"v{k}" for k in range(dim))
    for name, ids, vectors in (("users", targets, user_vectors), ("items", catalogue, item_vectors)):
        with open(os.path.join(out, f"{name}.tsv"), "w", encoding="utf-8") as f:
            f.write(f"id\t{header}\n")
            for id_, v in zip(ids, vectors):
                f.write(id_ + "\t" + "\t".join(f"{x:.9g}" for x in v) + "\n")
    print(f"tensorflow {tf.__version__}, tensorflow-recommenders {tfrs.__version__}", file=sys.stderr)


if __name__ == "__main__":
    main()
