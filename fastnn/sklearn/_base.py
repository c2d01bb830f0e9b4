"""What the classifier and the regressor share: parameters, the epoch loop, stopping.

The network is a ``fastnn.MLP`` (``self._model``); this module turns sklearn's
hyper-parameters into its arguments and reproduces sklearn's stochastic solver around
it (``sklearn.neural_network._multilayer_perceptron._fit_stochastic``):

- each epoch draws a permutation from ``random_state`` (when ``shuffle``) and takes
  mini-batches of ``batch_size`` in that order, the last one shorter if ``batch_size``
  does not divide the samples;
- ``alpha``: sklearn's gradient for a batch of ``B`` samples is
  ``(A.T @ delta + alpha * W) / B``, i.e. the mean-loss gradient plus ``(alpha / B) * W``,
  which is fastnn's ``weight_decay = alpha / B`` exactly (biases are not decayed in
  either). The full batches run with ``alpha / batch_size``, the short last one with
  ``alpha / its size``, as sklearn does;
- ``loss_curve_``: the epoch's mean training loss, each batch's loss measured before
  its step (as sklearn), in sklearn's units: cross-entropy for the classifier, and for
  the regressor ``0.5 * mean over samples and outputs of (y - y_hat)**2`` (fastnn's
  training loss sums over outputs; sklearn's gradient does too, its reported loss
  divides by the number of outputs), plus the L2 term ``0.5 * alpha * ||W||^2 *
  n_batches / n_samples``. sklearn adds each batch's term from the weights before that
  batch; here ``||W||^2`` is the mean of its values before and after the epoch, so with
  ``alpha > 0`` the figure is an approximation of sklearn's (the data term is exact);
- stopping: after ``n_iter_no_change`` epochs whose training loss (or, with
  ``early_stopping``, validation score: accuracy or R^2) improved by less than ``tol``;
  with ``early_stopping`` the best validation epoch's weights are kept. Reaching
  ``max_iter`` warns with ``ConvergenceWarning``, as sklearn does.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from fastnn.model import MLP
from fastnn.sklearn._params import check_params, hidden_activation, hidden_sizes, optimizer_name


class BaseMLP(BaseEstimator):
    """Shared by ``MLPClassifier`` and ``MLPRegressor``; not for direct use."""

    #: The fastnn output activation (which decides the loss), set by the subclass.
    _output = "softmax"

    def __init__(
        self,
        hidden_layer_sizes: Any = (100,),
        activation: str = "relu",
        *,
        solver: str = "adam",
        alpha: float = 0.0001,
        batch_size: int | str = "auto",
        learning_rate_init: float = 0.001,
        max_iter: int = 200,
        shuffle: bool = True,
        random_state: Any = None,
        tol: float = 1e-4,
        verbose: bool = False,
        warm_start: bool = False,
        momentum: float = 0.9,
        nesterovs_momentum: bool = True,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        n_iter_no_change: int = 10,
        backend: str = "numba",
        dtype: str = "float64",
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.backend = backend
        self.dtype = dtype

    # ------------------------------------------------------- fitted parameters
    @property
    def coefs_(self) -> list[np.ndarray]:
        """Weight matrices, ``coefs_[i]`` of shape (n_in, n_out): views of the network's
        parameters (writing to them changes the model, as in sklearn)."""
        check_is_fitted(self, "_model")
        return self._model.params.weights()

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Bias vectors, ``intercepts_[i]`` of shape (n_out,): views, like ``coefs_``."""
        check_is_fitted(self, "_model")
        return self._model.params.biases()

    @property
    def n_layers_(self) -> int:
        check_is_fitted(self, "_model")
        return len(self._model.layer_sizes)

    @property
    def out_activation_(self) -> str:
        """sklearn's name for the output activation (``softmax`` or ``identity``)."""
        check_is_fitted(self, "_model")
        return self._output

    # -------------------------------------------------------- subclass hooks
    def _encode_targets(self, y: Any, first: bool, classes: Any) -> np.ndarray:
        raise NotImplementedError

    def _validation_score(self, X: np.ndarray, Y: np.ndarray) -> float:
        raise NotImplementedError

    def _report_loss(self, data_loss: float) -> float:
        """The data loss in sklearn's units (the regressor divides by n_outputs)."""
        return data_loss

    def _n_outputs(self, Y: np.ndarray) -> int:
        raise NotImplementedError

    # ----------------------------------------------------------------- fitting
    def fit(self, X: Any, y: Any) -> BaseMLP:
        """Train on ``(X, y)`` for up to ``max_iter`` epochs (from the current weights
        when ``warm_start``). Returns self."""
        return self._fit(X, y, incremental=False)

    def _fit(self, X: Any, y: Any, incremental: bool, classes: Any = None) -> BaseMLP:
        check_params(self)
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        first = not hasattr(self, "_model") or (not self.warm_start and not incremental)
        X, y = validate_data(
            self,
            X,
            y,
            reset=first,
            dtype=(np.float64, np.float32),
            multi_output=self._output == "identity",
            y_numeric=self._output == "identity",
        )
        Y = self._encode_targets(y, first, classes)
        if first:
            self._initialize(X.shape[1], self._n_outputs(Y))
        elif not incremental:
            self._model.optimizer_state = None  # fit starts a fresh optimiser, as sklearn does
        self._fit_stochastic(X, Y, incremental)
        return self

    def _initialize(self, n_features: int, n_outputs: int) -> None:
        hidden = hidden_sizes(self.hidden_layer_sizes)
        act = hidden_activation(self.activation)
        self._random_state = check_random_state(self.random_state)
        self._model = MLP(
            [n_features, *hidden, n_outputs],
            [act] * len(hidden) + [self._output],
            backend=self.backend,
            dtype=self.dtype,
            seed=int(self._random_state.randint(np.iinfo(np.int32).max)),
            init="glorot",  # sklearn's Glorot uniform initialisation
        )
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = n_outputs
        self.loss_curve_: list[float] = []
        self._no_improvement_count = 0
        self._best_params: np.ndarray | None = None
        # As in sklearn: the attributes of the stopping rule in use are numbers, the others None.
        self.best_loss_: float | None = None if self.early_stopping else np.inf
        self.validation_scores_: list[float] | None = [] if self.early_stopping else None
        self.best_validation_score_: float | None = -np.inf if self.early_stopping else None

    def _batch_size(self, n: int) -> int:
        if self.batch_size == "auto":
            return min(200, n)
        if int(self.batch_size) > n:
            warnings.warn(
                "Got `batch_size` less than 1 or larger than sample size. It is going to be clipped",
                UserWarning,
                stacklevel=4,
            )
        return min(int(self.batch_size), n)

    def _fit_stochastic(self, X: np.ndarray, Y: np.ndarray, incremental: bool) -> None:
        X_val = Y_val = None
        if self.early_stopping:
            stratify = Y if self._output == "softmax" else None
            X, X_val, Y, Y_val = train_test_split(
                X, Y, random_state=self._random_state, test_size=self.validation_fraction, stratify=stratify
            )
            if X_val.shape[0] < 2:
                raise ValueError(
                    "The validation set is too small. Increase 'validation_fraction' or the size of your dataset."
                )
        n = X.shape[0]
        bs = self._batch_size(n)
        self.n_iter_ = 0
        for _ in range(self.max_iter):
            order = self._random_state.permutation(n) if self.shuffle else np.arange(n)
            self.loss_ = self._epoch(X, Y, order, bs)
            self.n_iter_ += 1
            self.t_ += n
            self.loss_curve_.append(self.loss_)
            if self.verbose:
                print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
            self._update_no_improvement_count(X_val, Y_val)
            if self._no_improvement_count > self.n_iter_no_change:
                what = "Validation score" if self.early_stopping else "Training loss"
                if self.verbose:
                    print(
                        f"{what} did not improve more than tol={self.tol:f} for "
                        f"{self.n_iter_no_change} consecutive epochs. Stopping."
                    )
                break
            if incremental:
                break
            if self.n_iter_ == self.max_iter:
                warnings.warn(
                    f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                    "optimization hasn't converged yet.",
                    ConvergenceWarning,
                    stacklevel=4,
                )
        if self.early_stopping and self._best_params is not None:
            self._model.params.data[...] = self._best_params

    def _epoch(self, X: np.ndarray, Y: np.ndarray, order: np.ndarray, bs: int) -> float:
        """One pass in sklearn's batches: full batches at ``alpha / bs``, then the short
        last batch, if any, at ``alpha / its size`` (see the module docstring)."""
        n = X.shape[0]
        full = n - n % bs
        parts = [(order[:full], bs)] if full else []
        if full < n:
            parts.append((order[full:], n - full))
        total = 0.0
        squares_before = self._squared_weights()
        for idx, size in parts:
            self._model.fit(
                X[idx],
                Y[idx],
                epochs=1,
                lr=self.learning_rate_init,
                batch_size=size,
                optimizer=optimizer_name(self.solver, self.momentum, self.nesterovs_momentum),
                momentum=self.momentum,
                beta1=self.beta_1,
                beta2=self.beta_2,
                eps=self.epsilon,
                weight_decay=self.alpha / size,
                shuffle=False,
                train_accuracy=False,
            )
            total += self._model.history[-1].loss * len(idx)
        del self._model.history[:]  # the estimator keeps its own curve
        # sklearn adds 0.5 * alpha * ||W||^2 from the weights before each batch; the mean
        # of the epoch's first and last weights stands in for them (module docstring).
        squares = 0.5 * (squares_before + self._squared_weights())
        return self._report_loss(total / n) + 0.5 * self.alpha * squares * math.ceil(n / bs) / n

    def _squared_weights(self) -> float:
        return sum(float(np.dot(W.ravel(), W.ravel())) for W in self._model.params.weights())

    def _update_no_improvement_count(self, X_val: np.ndarray | None, Y_val: np.ndarray | None) -> None:
        """sklearn's rule: count epochs that improve by less than ``tol``."""
        if self.early_stopping:
            assert X_val is not None and Y_val is not None
            if self.validation_scores_ is None or self.best_validation_score_ is None:
                # A warm start that turned early stopping on after the first fit.
                self.validation_scores_, self.best_validation_score_ = [], -np.inf
            score = self._validation_score(X_val, Y_val)
            self.validation_scores_.append(score)
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_params = self._model.params.data.copy()
        else:
            if self.best_loss_ is None:
                self.best_loss_ = np.inf
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            self.best_loss_ = min(self.best_loss_, self.loss_curve_[-1])

    # -------------------------------------------------------------- inference
    def _forward(self, X: Any) -> np.ndarray:
        """The network's outputs for X (checked against the fitted features)."""
        check_is_fitted(self, "_model")
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        return self._model._outputs(X)
