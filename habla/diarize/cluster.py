"""Speaker clustering of window embeddings: average-linkage agglomerative clustering on cosine distance, a
stopping threshold (or a given count), clusters that are not a speaker folded into the others, then a centroid
refinement.

A cluster is a speaker when it holds enough speech and, where the caller says which windows follow each other,
two consecutive windows of one speech region: someone who speaks keeps speaking for longer than one hop, while
windows that straddle a turn change or an overlap are mixed speech and land in small clusters one window at a time.
On the 30 tuning conversations (docs/diarize.md) this rule took the exact speaker count from 25/30 to 29-30/30.

``ahc-split`` then asks of every speaker found whether it is two or more near-identical voices: spectral clustering
of its own windows (a nearest-neighbour graph, count by the largest eigengap) proposes a split, kept only when every
pair of parts is at least ``split_min_distance`` apart (average cosine distance). A single distance threshold cannot
do this: two espeak-ng variants lie 0.34-0.40 apart on average over their windows while one recorded voice's own
windows reach 0.46 (docs/diarize.md, stop 15); the neighbour graph sees two dense groups where the averages overlap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from habla.diarize.protocol import SpeakerOptions

# Linkage needs n²/2 distances: 3000 windows (≈ 40 min of speech at a 0.75 s hop) are 36 MB. Longer audio is
# clustered on an even subsample and every window is then given its nearest centroid, so memory stays bounded.
MAX_LINKAGE_WINDOWS = 3000
REFINE_PASSES = 2
MIN_SPECTRAL_WINDOWS = 12  # too few windows for a meaningful affinity graph: agglomerative clustering instead
MIN_NEIGHBOURS = 6
MAX_SPLIT_WINDOWS = 1000  # a speaker with more windows is split on an even subsample (eigh of n x n: ~0.5 s at 1000)
MAX_SPLIT_PARTS = 10  # the eigengap is looked for among the first this many eigenvalues


def _laplacian_eigen(embeddings: np.ndarray, neighbours: int) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (ascending) and eigenvectors of the Laplacian of the pruned cosine-affinity graph, in which each
    window keeps its ``neighbours`` most similar windows."""
    n = len(embeddings)
    similarity = embeddings.astype(np.float64) @ embeddings.T.astype(np.float64)
    keep = min(n - 1, neighbours)
    pruned = np.zeros_like(similarity)
    top = np.argsort(-similarity, axis=1)[:, :keep + 1]
    rows = np.arange(n)[:, None]
    pruned[rows, top] = similarity[rows, top]
    affinity = 0.5 * (pruned + pruned.T)
    np.fill_diagonal(affinity, 0.0)
    values, vectors = np.linalg.eigh(np.diag(np.abs(affinity).sum(axis=1)) - affinity)
    return values, vectors


def _spectral_labels(embeddings: np.ndarray, seconds: np.ndarray, options: SpeakerOptions,
                     min_speaker_seconds: float, pval: float) -> np.ndarray:
    """Spectral clustering of the pruned cosine-affinity graph (3D-Speaker's recipe): each window keeps its
    ``pval`` most similar windows (at least MIN_NEIGHBOURS); the speaker count is the largest eigengap of the
    graph Laplacian unless given; k-means on the first k eigenvectors."""
    from scipy.cluster.vq import kmeans2

    n = len(embeddings)
    values, vectors = _laplacian_eigen(embeddings, max(MIN_NEIGHBOURS, round(n * pval)))
    low, high = options.min_speakers, min(options.max_speakers, n - 1)
    if options.speakers is not None:
        k = min(options.speakers, n)
    else:
        gaps = np.diff(values[low - 1:high + 1])
        k = int(np.argmax(gaps)) + low if len(gaps) else low
    _, labels = kmeans2(vectors[:, :k], k, minit="++", seed=0)
    if options.speakers is None:
        totals = np.bincount(labels, weights=seconds, minlength=k)
        k = max(min(int(np.sum(totals >= min_speaker_seconds)) or 1, high), low)
    return _keep_largest(labels, seconds, k)


def cluster_windows(embeddings: np.ndarray, seconds: np.ndarray, threshold: float, options: SpeakerOptions,
                    min_speaker_seconds: float, method: str = "ahc", pval: float = 0.02,
                    follows: np.ndarray | None = None, split: SplitRule | None = None) -> np.ndarray:
    """A speaker index (0..k-1) per row of L2-normalised ``embeddings``; ``seconds`` is each window's weight;
    ``follows[i]`` is true when window i comes right after window i-1 in the same speech region. ``method``
    "ahc-split" splits speakers by ``split`` (see the module's docstring)."""
    n = len(embeddings)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if n == 1 or options.speakers == 1 or options.max_speakers == 1:
        return np.zeros(n, dtype=np.int64)
    sample = np.linspace(0, n - 1, min(n, MAX_LINKAGE_WINDOWS)).round().astype(np.int64)
    sample = np.unique(sample)
    if method == "spectral" and len(sample) >= MIN_SPECTRAL_WINDOWS:
        labels = _spectral_labels(embeddings[sample], seconds[sample], options, min_speaker_seconds, pval)
    else:
        # Consecutive windows stay consecutive only when nothing was left out between them.
        sampled_follows = None if follows is None or len(sample) < n else follows
        labels = _linkage_labels(embeddings[sample], seconds[sample], threshold, options, min_speaker_seconds,
                                 sampled_follows)
    labels = _refined(embeddings, _centroids(embeddings[sample], labels))
    if method == "ahc-split" and options.speakers is None and follows is not None and split is not None:
        parts = split_speakers(embeddings, seconds, follows, labels, min_speaker_seconds, split)
        if options.min_speakers <= int(parts.max()) + 1 <= options.max_speakers:
            labels = _refined(embeddings, _centroids(embeddings, parts))
    return labels


def _refined(embeddings: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Every window to its nearest centroid, the centroids recomputed REFINE_PASSES times; labels in order of
    first appearance."""
    for _ in range(REFINE_PASSES):
        assigned = np.argmax(embeddings @ centroids.T, axis=1)
        centroids = _centroids(embeddings, assigned, len(centroids))
    return _by_first_appearance(np.argmax(embeddings @ centroids.T, axis=1))


@dataclass(frozen=True)
class SplitRule:
    """When a speaker is split into near-identical voices (``ahc-split``)."""

    neighbours: int = 8  # each window keeps its this many most similar windows in the affinity graph, at least
    neighbour_share: float = 0.2  # or this share of the speaker's windows, if more (long recordings)
    min_distance: float = 0.33  # every pair of parts at least this far apart (average cosine distance)
    min_windows: int = 12  # speakers with fewer windows are never split


def split_speakers(embeddings: np.ndarray, seconds: np.ndarray, follows: np.ndarray, labels: np.ndarray,
                   min_speaker_seconds: float, rule: SplitRule) -> np.ndarray:
    """``labels`` with each speaker replaced by its parts where a spectral split of its windows holds."""
    out = labels.copy()
    following = int(labels.max()) + 1
    for speaker in range(int(labels.max()) + 1):
        members = np.flatnonzero(labels == speaker)
        if len(members) < rule.min_windows:
            continue
        chosen = members[np.unique(np.linspace(0, len(members) - 1, min(len(members), MAX_SPLIT_WINDOWS))
                                   .round().astype(np.int64))]
        # consecutive inside the speaker only where the windows are consecutive in the recording too
        chosen_follows = follows[chosen] & np.r_[False, np.diff(chosen) == 1]
        neighbours = max(rule.neighbours, round(rule.neighbour_share * len(chosen)))
        parts = _spectral_parts(embeddings[chosen], seconds[chosen], chosen_follows, neighbours, min_speaker_seconds)
        if parts.max() == 0 or not _apart(embeddings[chosen], parts, rule.min_distance):
            continue
        if len(chosen) == len(members):
            own = parts
        else:  # the windows left out of the sample go to the nearest part
            own = np.argmax(embeddings[members] @ _centroids(embeddings[chosen], parts).T, axis=1)
        for part in range(1, int(parts.max()) + 1):
            out[members[own == part]] = following
            following += 1
    return out


def _spectral_parts(embeddings: np.ndarray, seconds: np.ndarray, follows: np.ndarray, neighbours: int,
                    min_speaker_seconds: float) -> np.ndarray:
    """Spectral clustering of one speaker's windows: a graph of each window's ``neighbours`` most similar
    windows, the count by the largest eigengap of its Laplacian, k-means on the eigenvectors, then the parts that
    are speakers (speaker_clusters) and every window to the nearest of them."""
    from scipy.cluster.vq import kmeans2

    n = len(embeddings)
    if n < MIN_SPECTRAL_WINDOWS:
        return np.zeros(n, dtype=np.int64)
    values, vectors = _laplacian_eigen(embeddings, neighbours)
    k = int(np.argmax(np.diff(values[:min(MAX_SPLIT_PARTS, n - 1) + 1]))) + 1
    if k == 1:
        return np.zeros(n, dtype=np.int64)
    _, labels = kmeans2(vectors[:, :k], k, minit="++", seed=0)
    speakers = speaker_clusters(labels, seconds, min_speaker_seconds, follows)
    centroids = np.stack([embeddings[labels == s].mean(axis=0) for s in speakers])
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    for _ in range(REFINE_PASSES):
        centroids = _centroids(embeddings, np.argmax(embeddings @ centroids.T, axis=1), len(centroids))
    return _by_first_appearance(np.argmax(embeddings @ centroids.T, axis=1))


def _apart(embeddings: np.ndarray, parts: np.ndarray, min_distance: float) -> bool:
    ids = np.unique(parts)
    return all(float((1 - embeddings[parts == a] @ embeddings[parts == b].T).mean()) >= min_distance
               for i, a in enumerate(ids) for b in ids[i + 1:])


def _linkage_labels(embeddings: np.ndarray, seconds: np.ndarray, threshold: float, options: SpeakerOptions,
                    min_speaker_seconds: float, follows: np.ndarray | None = None) -> np.ndarray:
    from scipy.cluster.hierarchy import fcluster, linkage

    tree = linkage(embeddings.astype(np.float64), method="average", metric="cosine")
    if options.speakers is not None:
        return _keep_largest(fcluster(tree, options.speakers, criterion="maxclust") - 1, seconds, options.speakers)
    labels = fcluster(tree, threshold, criterion="distance") - 1
    speakers = speaker_clusters(labels, seconds, min_speaker_seconds, follows)
    found = len(speakers)
    wanted = min(max(found, options.min_speakers), options.max_speakers, len(embeddings))
    if wanted != found:  # outside the caller's bounds: cut the tree at the nearest allowed count instead
        return _keep_largest(fcluster(tree, wanted, criterion="maxclust") - 1, seconds, wanted)
    # The others are folded into the nearest speaker by the caller's centroid pass (re-cutting the tree at the
    # count instead merged two real speakers where a stray cluster sat between them: tuning DER 1.5 % → 3.2 %).
    mapping = np.full(int(labels.max()) + 1, -1, dtype=np.int64)
    mapping[speakers] = np.arange(found)
    return mapping[labels]


def speaker_clusters(labels: np.ndarray, seconds: np.ndarray, min_speaker_seconds: float,
                     follows: np.ndarray | None = None) -> np.ndarray:
    """The clusters that are speakers, most speech first: at least ``min_speaker_seconds`` and, given ``follows``,
    two consecutive windows. Never empty: without any such cluster the rules relax, pairs first."""
    totals = np.bincount(labels, weights=seconds)
    enough = totals >= min_speaker_seconds
    speakers = enough
    if follows is not None:
        paired = np.zeros(len(totals), dtype=bool)
        same = follows[1:] & (labels[1:] == labels[:-1])
        paired[labels[1:][same]] = True
        speakers = enough & paired if np.any(enough & paired) else enough
    chosen = np.flatnonzero(speakers)
    if not len(chosen):
        chosen = np.array([int(np.argmax(totals))])
    return chosen[np.argsort(-totals[chosen], kind="stable")]


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
