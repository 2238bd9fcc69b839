"""Embeddings written from scratch, and their scores (chapters 3 and 4).

- ``pca``      PCA with scikit-learn's sign rule
- ``tsne``     t-SNE, exact (O(N^2)) and fast (sparse P, FFT-interpolated repulsion), the perplexity search
- ``metrics``  KL divergence of an embedding, k-NN accuracy, cluster purity
- ``common``   input checks and pairwise distances they share
"""
from .common import MACHINE_EPSILON, nearest_neighbours, squared_distances
from .metrics import kl_divergence, knn_accuracy, purity
from .pca import PCAResult, pca
from .tsne import (
    TSNEResult,
    binary_search_perplexity,
    joint_probabilities,
    kl_gradient,
    pca_init,
    repulsive_forces,
    row_entropy,
    sparse_joint_probabilities,
    tsne,
)

__all__ = ["MACHINE_EPSILON", "PCAResult", "TSNEResult", "binary_search_perplexity", "joint_probabilities",
           "kl_divergence", "kl_gradient", "knn_accuracy", "nearest_neighbours", "pca", "pca_init", "purity",
           "repulsive_forces", "row_entropy", "sparse_joint_probabilities", "squared_distances", "tsne"]
