"""Speaker clustering of window embeddings: average-linkage agglomerative clustering on cosine distance, a
stopping threshold (or a given count), small clusters folded into big ones, then a centroid refinement."""

from __future__ import annotations

import numpy as np

from habla.diarize.protocol import SpeakerOptions

# Linkage needs n²/2 distances: 3000 windows (≈ 40 min of speech at a 0.75 s hop) are 36 MB. Longer audio is
# clustered on an even subsample and every window is then given its nearest centroid, so memory stays bounded.
MAX_LINKAGE_WINDOWS = 3000
REFINE_PASSES = 2


def cluster_windows(embeddings: np.ndarray, seconds: np.ndarray, threshold: float, options: SpeakerOptions,
                    min_speaker_seconds: float) -> np.ndarray:
    """A speaker index (0..k-1) per row of L2-normalised ``embeddings``; ``seconds`` is each window's weight."""
    n = len(embeddings)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if n == 1 or options.speakers == 1 or options.max_speakers == 1:
        return np.zeros(n, dtype=np.int64)
    sample = np.linspace(0, n - 1, min(n, MAX_LINKAGE_WINDOWS)).round().astype(np.int64)
    sample = np.unique(sample)
    labels = _linkage_labels(embeddings[sample], seconds[sample], threshold, options, min_speaker_seconds)
    centroids = _centroids(embeddings[sample], labels)
    for _ in range(REFINE_PASSES):
        assigned = np.argmax(embeddings @ centroids.T, axis=1)
        centroids = _centroids(embeddings, assigned, len(centroids))
    return _by_first_appearance(np.argmax(embeddings @ centroids.T, axis=1))


def _linkage_labels(embeddings: np.ndarray, seconds: np.ndarray, threshold: float, options: SpeakerOptions,
                    min_speaker_seconds: float) -> np.ndarray:
    from scipy.cluster.hierarchy import fcluster, linkage

    tree = linkage(embeddings.astype(np.float64), method="average", metric="cosine")
    if options.speakers is not None:
        return _keep_largest(fcluster(tree, options.speakers, criterion="maxclust") - 1, seconds, options.speakers)
    labels = fcluster(tree, threshold, criterion="distance") - 1
    totals = np.bincount(labels, weights=seconds)
    found = int(np.sum(totals >= min_speaker_seconds)) or 1
    wanted = min(max(found, options.min_speakers), options.max_speakers, len(embeddings))
    if wanted != len(totals):
        labels = fcluster(tree, wanted, criterion="maxclust") - 1
    return _keep_largest(labels, seconds, wanted)


def _keep_largest(labels: np.ndarray, seconds: np.ndarray, k: int) -> np.ndarray:
    """Relabel so the k clusters with the most speech are 0..k-1 and every other window joins the nearest one
    (done by the caller's centroid pass: windows of dropped clusters get label -1 here)."""
    totals = np.bincount(labels, weights=seconds)
    keep = np.argsort(-totals)[:k]
    mapping = np.full(len(totals), -1, dtype=np.int64)
    mapping[keep] = np.arange(len(keep))
    return mapping[labels]


def _centroids(embeddings: np.ndarray, labels: np.ndarray, k: int | None = None) -> np.ndarray:
    k = int(labels.max()) + 1 if k is None else k
    out = np.zeros((k, embeddings.shape[1]), dtype=np.float64)
    for i in range(k):
        members = embeddings[labels == i]
        if len(members):
            out[i] = members.mean(axis=0)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms == 0, 1.0, norms)


def _by_first_appearance(labels: np.ndarray) -> np.ndarray:
    order: dict[int, int] = {}
    for label in labels.tolist():
        order.setdefault(label, len(order))
    return np.array([order[label] for label in labels.tolist()], dtype=np.int64)
