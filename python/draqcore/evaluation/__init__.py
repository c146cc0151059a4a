"""Evaluation of aligned video retrieval (paper Sec. 4 and 5).

* :func:`aligned_phase_agreement` — APA, phase agreement after a one-sided DTW warp (Sec. 4,
  Table 2).
* :func:`cycle_consistency` — FPE and CPE of a query -> match -> query cycle (Sec. 4, Fig. 3,
  Table 1).
* :func:`recall_at_k` — same-class retrieval hit rate (Sec. 5.4, Table 4).
* :func:`kendall_tau`, :func:`mean_kendall_tau` — the TCC proxy metric (Table 3; ``-tau`` in
  Fig. 5).
* :func:`phase_progression`, :func:`phase_classification`, :func:`frame_feature_scores` — the
  frame-feature protocol of TCC, LAV and CARL (tau, linear probes on frozen per-frame features).
* :func:`build_synthetic_benchmark` — the appearance-independent ground-truth benchmark.
* :func:`evaluate_retiming` — how well ``draq align`` recovers known re-timings of real footage.
* :func:`indicator_curves`, :func:`indicator_table`, :func:`write_indicator_plot`,
  :func:`balanced_pairs` — alignability indicators compared by APA (Sec. 5.4, Fig. 5).
* :func:`read_penn_action`, :func:`read_ucf101`, :func:`read_kinetics`,
  :func:`read_labelled_dir` — dataset layouts as :class:`LabelledVideo` records (Sec. 5.1).

Definitions and every choice we made are in ``docs/evaluation.md``.
"""

from __future__ import annotations

from .cycle_consistency import CycleErrors, cycle_consistency
from .datasets import (
    PENN_PHASES_DIRNAME,
    DatasetIndex,
    LabelledVideo,
    read_kinetics,
    read_labelled_dir,
    read_penn_action,
    read_ucf101,
)
from .frame_protocol import FrameScores, FrameVideo, frame_feature_scores
from .indicators import (
    BalancedPairs,
    IndicatorCurves,
    balanced_pairs,
    indicator_curves,
    indicator_table,
    standard_indicators,
    write_indicator_plot,
)
from .kendall_tau import KendallSummary, kendall_tau, mean_kendall_tau
from .phase_agreement import aligned_phase_agreement
from .phase_classification import ClassificationScore, phase_classification
from .phase_progression import ProgressionScore, phase_progression, progression_targets
from .protocol import EvaluationReport, evaluate
from .retrieval_recall import recall_at_k
from .retime_benchmark import RetimeReport, RetimeRow, evaluate_retiming
from .synthetic_benchmark import SyntheticBenchmark, build_synthetic_benchmark

__all__ = [
    "PENN_PHASES_DIRNAME",
    "ProgressionScore",
    "BalancedPairs",
    "ClassificationScore",
    "CycleErrors",
    "DatasetIndex",
    "EvaluationReport",
    "FrameScores",
    "FrameVideo",
    "frame_feature_scores",
    "SyntheticBenchmark",
    "build_synthetic_benchmark",
    "evaluate_retiming",
    "RetimeReport",
    "RetimeRow",
    "evaluate",
    "IndicatorCurves",
    "KendallSummary",
    "LabelledVideo",
    "aligned_phase_agreement",
    "balanced_pairs",
    "cycle_consistency",
    "indicator_curves",
    "indicator_table",
    "kendall_tau",
    "mean_kendall_tau",
    "phase_classification",
    "phase_progression",
    "progression_targets",
    "read_kinetics",
    "read_labelled_dir",
    "read_penn_action",
    "read_ucf101",
    "recall_at_k",
    "standard_indicators",
    "write_indicator_plot",
]
