"""Optional: TensorFlow Recommenders' two-tower retrieval on a split exported by
`recsweep split`, for the comparison in docs/benchmarks.md. Not part of the
build or the tests. Needs `pip install tensorflow-cpu tensorflow-recommenders
tf-keras` and TF_USE_LEGACY_KERAS=1 (TFRS 0.7 is written for Keras 2).

    python3 tools/tfrs_two_tower.py quality DIR OUT.tsv [SEED]
        TFRS's basic retrieval model (ids only, dim 64, no hidden layers,
        temperature 1, Adagrad 0.1, batch 8192, 3 epochs) trained on
        DIR/train.tsv; writes each DIR/test.tsv user's top 100 unseen items
        as `user item score` for `recsweep evaluate`.
    python3 tools/tfrs_two_tower.py throughput DIR [EPOCHS]
        Training positives per second of dim 64, hidden [128], batch 1024,
        L2-normalised towers (temperature 0.1), timed as recsweep's
        `bench train` does: a fit of 1 + EPOCHS epochs minus a fit of 1.
"""
import sys
import time

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs


def read(path):
    rows = [line.rstrip("\n").split("\t") for line in open(path)][1:]
    return [r[0] for r in rows], [r[1] for r in rows]


class Tower(tf.keras.Model):
    def __init__(self, n, dim, hidden, normalize):
        super().__init__()
        self.embedding = tf.keras.layers.Embedding(n, dim)
        self.layers_ = [tf.keras.layers.Dense(h, activation="relu") for h in hidden]
        if hidden:
            self.layers_.append(tf.keras.layers.Dense(dim))
        self.normalize = normalize

    def call(self, ids):
        x = self.embedding(ids)
        for layer in self.layers_:
            x = layer(x)
        return tf.math.l2_normalize(x, axis=1) if self.normalize else x


class TwoTower(tfrs.Model):
    def __init__(self, n_users, n_items, dim, hidden, normalize, temperature):
        super().__init__()
        self.users = Tower(n_users, dim, hidden, normalize)
        self.items = Tower(n_items, dim, hidden, normalize)
        self.task = tfrs.tasks.Retrieval(temperature=temperature)

    def compute_loss(self, features, training=False):
        return self.task(self.users(features["user"]), self.items(features["item"]))


def dataset(u, i, batch, seed):
    ds = tf.data.Dataset.from_tensor_slices({"user": u, "item": i})
    return ds.shuffle(len(u), seed=seed, reshuffle_each_iteration=True).batch(batch)


def main():
    mode, folder = sys.argv[1], sys.argv[2]
    users, items = read(f"{folder}/train.tsv")
    user_ids = {u: k for k, u in enumerate(sorted(set(users)))}
    item_ids = {i: k for k, i in enumerate(sorted(set(items)))}
    u = np.array([user_ids[x] for x in users], dtype=np.int32)
    i = np.array([item_ids[x] for x in items], dtype=np.int32)
    if mode == "quality":
        out = sys.argv[3]
        seed = int(sys.argv[4]) if len(sys.argv) > 4 else 1
        tf.keras.utils.set_random_seed(seed)
        model = TwoTower(len(user_ids), len(item_ids), 64, [], False, 1.0)
        model.compile(optimizer=tf.keras.optimizers.Adagrad(0.1))
        model.fit(dataset(u, i, 8192, seed), epochs=3, verbose=0)
        user_vectors = model.users(np.arange(len(user_ids))).numpy()
        item_vectors = model.items(np.arange(len(item_ids))).numpy()
        seen = {}
        for a, b in zip(u, i):
            seen.setdefault(a, set()).add(b)
        test_users, _ = read(f"{folder}/test.tsv")
        labels = sorted(item_ids, key=item_ids.get)
        with open(out, "w") as f:
            f.write("user\titem\tscore\n")
            for user in sorted(set(test_users)):
                if user not in user_ids:
                    continue
                k = user_ids[user]
                scores = item_vectors @ user_vectors[k]
                scores[list(seen.get(k, ()))] = -np.inf
                top = np.argsort(-scores, kind="stable")[:100]
                for j in top:
                    f.write(f"{user}\t{labels[j]}\t{scores[j]:.7g}\n")
        print(f"wrote {out}")
    else:
        epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
        times = []
        for n in (1, 1 + epochs):
            tf.keras.utils.set_random_seed(1)
            model = TwoTower(len(user_ids), len(item_ids), 64, [128], True, 0.1)
            model.compile(optimizer=tf.keras.optimizers.Adam(0.001))
            start = time.perf_counter()
            model.fit(dataset(u, i, 1024, 1), epochs=n, verbose=0)
            times.append(time.perf_counter() - start)
        seconds = (times[1] - times[0]) / epochs
        print(f"TFRS {tf.__version__}: {len(u)} positives, seconds per epoch {seconds:.3f}, "
              f"positives per second {len(u) / seconds:.0f}")


main()
