"""SONYC-UST v1: urban sound tagging, the data of DCASE 2019 Task 5 (Cartwright et al., 2019).

Dataset card
------------
Source
    The SONYC project, Zenodo record 2590742 (``annotations.csv``, ``dcase-ust-taxonomy.yaml``,
    ``audio.tar.gz``, about 5 GiB); record 3233082 is the same development data renamed
    (``annotations-dev.csv``, ``audio-dev.tar.gz``) plus the evaluation audio.
    :func:`download_sonyc_ust` fetches record 2590742 resumably (Zenodo's listing gives no
    checksum that this code can pin, so the download is verified by content: the archive must
    unpack to the 2,794 annotated WAV files).
Layout
    ``<root>/annotations.csv`` (or ``annotations-dev.csv``), ``<root>/dcase-ust-taxonomy.yaml``,
    ``<root>/audio/train/*.wav`` and ``<root>/audio/validate/*.wav`` (``<root>/train`` and
    ``<root>/validate`` are accepted too): 10 s, 44.1 kHz mono recordings from acoustic sensors
    in New York City.
Annotations
    One row per (file, annotator): ``split, sensor_id, audio_filename, annotator_id``, then a
    ``<code>_<name>_presence`` column (0/1, -1 where not asked) for each of the 29 fine tags
    (``"1-1_small-sounding-engine_presence"`` ... including the "X" / unknown tags such as
    ``"1-X_engine-of-uncertain-size"``), the fine tags' ``_proximity`` columns, and the 8 coarse
    ``<code>_<name>_presence`` columns. ``annotator_id > 0``: volunteers on Zooniverse (train
    and validate); ``annotator_id < 0``: the organisers' individual annotations (validate);
    ``annotator_id == 0``: the organisers' verified consensus (validate only).
Ground truth, as DCASE 2019 Task 5 defines it
    validate: the verified rows (``annotator_id == 0``), the labels the official evaluation
    scores against. train: only volunteer labels exist; a tag is positive when more than
    ``threshold`` of the volunteers who answered marked it (the challenge baseline and
    Tompkins & Nichols use > 50 %); the agreement itself (a fraction in [0, 1]) is the soft
    target. Entries of -1 (question not asked) are left out of the fraction.
Content
    2,351 train and 443 validate files; taxonomy of 8 coarse categories and 29 fine tags
    (23 "complete" tags plus 6 "X" tags of uncertain type).
Licence
    Creative Commons Attribution 4.0 (CC BY 4.0), the SONYC project.
Shared copy here
    ``../shared/data/sonyc-ust`` holds ``annotations.csv`` (10,349 rows) and the taxonomy but
    no audio: :func:`sonyc_ust_ground_truth` works on it; :func:`load_sonyc_ust` lists every
    file in ``ClipSet.unusable`` (reason: audio absent).

>>> truth = sonyc_ust_ground_truth(split="train")           # doctest: +SKIP
>>> len(truth), int(truth["1_engine"].sum())                 # doctest: +SKIP
(2351, 548)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from audiolib import paths
from audiolib.data import _recipes
from audiolib.data.base import ClipSet, Taxonomy
from audiolib.data.download import download_file, is_complete, mark_complete, unpack_into

__all__ = [
    "SONYC_UST_URL",
    "N_TRAIN",
    "N_VALIDATE",
    "N_COARSE",
    "N_FINE",
    "download_sonyc_ust",
    "load_taxonomy",
    "read_annotations",
    "sonyc_ust_ground_truth",
    "load_sonyc_ust",
    "taxonomy_columns",
]

SONYC_UST_URL = "https://zenodo.org/record/2590742/files"
ARCHIVES = ("annotations.csv", "dcase-ust-taxonomy.yaml", "audio.tar.gz")
ANNOTATION_NAMES = ("annotations.csv", "annotations-dev.csv")
TAXONOMY_NAME = "dcase-ust-taxonomy.yaml"
N_TRAIN = 2351
N_VALIDATE = 443
N_COARSE = 8
N_FINE = 29
SPLITS = ("train", "validate")
SAMPLE_RATE = 44100
ID_COLUMNS = ("split", "sensor_id", "audio_filename", "annotator_id")


# --- download ------------------------------------------------------------------------------------
def download_sonyc_ust(root=None, *, keep_archive: bool = False, progress: bool = True,
                       url: str = SONYC_UST_URL) -> Path:
    """Download and unpack SONYC-UST v1 (Zenodo record 2590742) into ``root``.

    Resumable (each file goes to ``<file>.part`` first); skipped when ``root`` is already marked
    complete. Verified by content: the annotations must have the 2,351 + 443 files, and every
    annotated file must be present in ``audio/<split>/`` after unpacking.

    Args:
        root: destination; default ``audiolib.paths.data_root() / "sonyc-ust"`` (the cache,
            never the read-only shared subset).
        keep_archive: keep ``audio.tar.gz`` after unpacking.
        progress: show download progress.
        url: the folder the three files are fetched from (a mirror, or ``file://`` for tests).

    Returns:
        ``root`` holding ``annotations.csv``, ``dcase-ust-taxonomy.yaml``, ``audio/train``,
        ``audio/validate`` and a ``.complete`` marker.
    """
    root = Path(root) if root is not None else paths.data_root() / "sonyc-ust"
    if is_complete(root):
        return root
    for name in ARCHIVES:
        download_file(f"{url.rstrip('/')}/{name}", root / name, progress=progress)
    annotations = read_annotations(root / "annotations.csv")
    truth = {split: annotations[annotations["split"] == split]["audio_filename"].unique() for split in SPLITS}
    unpack_into(root / "audio.tar.gz", root / "audio", top="audio")
    missing = [f"{split}/{f}" for split, files in truth.items() for f in files
               if not (root / "audio" / split / f).is_file()]
    if missing:
        raise RuntimeError(f"{root / 'audio.tar.gz'} unpacked, but {len(missing)} annotated files are absent "
                           f"from {root / 'audio'} (first: {missing[:3]}); delete the archive and download again")
    mark_complete(root, {"dataset": "sonyc-ust", "url": url,
                         "files": {split: len(files) for split, files in truth.items()}})
    if not keep_archive:
        (root / "audio.tar.gz").unlink()
    return root


# --- taxonomy and annotations --------------------------------------------------------------------
def load_taxonomy(path=None) -> Taxonomy:
    """The two-level taxonomy of ``dcase-ust-taxonomy.yaml``.

    Codes are strings: coarse ``"1"`` .. ``"8"``, fine ``"1-1"``, ``"1-X"`` ...; the dicts keep
    the file's order, which is the order of model outputs and submission columns.

    Args:
        path: the yaml file, or a dataset folder holding it; default
            ``audiolib.paths.dataset_root("sonyc-ust")``.

    >>> tax = load_taxonomy()                      # doctest: +SKIP
    >>> len(tax.coarse), len(tax.fine), tax.parent["5-3"], tax.fine["5-3"]  # doctest: +SKIP
    (8, 29, '5', 'siren')
    """
    path = Path(path) if path is not None else paths.dataset_root("sonyc-ust")
    if path.is_dir():
        path = path / TAXONOMY_NAME
    if not path.is_file():
        raise FileNotFoundError(f"SONYC-UST taxonomy {path} not found: download the dataset with "
                                "audiolib.data.sonyc_ust.download_sonyc_ust() or point $AUDIOLIB_SONYC_UST_ROOT at it")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("coarse"), dict) or not isinstance(raw.get("fine"), dict):
        raise ValueError(f"{path}: expected 'coarse' and 'fine' mappings (the DCASE 2019 Task 5 taxonomy)")
    coarse = {}
    for k, v in raw["coarse"].items():
        _check_entry(path, f"coarse.{k}", k, v)
        coarse[str(k)] = v
    fine, parent = {}, {}
    for c, tags in raw["fine"].items():
        if str(c) not in coarse:
            raise ValueError(f"{path}: fine tags listed under {c!r}, which is not a coarse category")
        if not isinstance(tags, dict):
            raise ValueError(f"{path}: field fine.{c} must map tag codes to names, got {type(tags).__name__} "
                             f"{tags!r:.60}")
        for f, name in tags.items():
            _check_entry(path, f"fine.{c}.{f}", f, name)
            code = f"{c}-{f}"
            fine[code], parent[code] = name, str(c)
    empty = [c for c in coarse if c not in parent.values()]
    if empty:
        raise ValueError(f"{path}: coarse categories without fine tags: {empty}")
    return Taxonomy(coarse=coarse, fine=fine, parent=parent)


def _check_entry(path: Path, field: str, code, name) -> None:
    """A taxonomy entry is ``code: name``: a number or word, and a non-empty string."""
    if isinstance(code, bool) or not isinstance(code, (int, str)) or not str(code).strip():
        raise ValueError(f"{path}: field {field}: the code must be a number or a word, got {code!r:.40}")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{path}: field {field} must be a name (a string), got {type(name).__name__} {name!r:.60}")


def taxonomy_columns(taxonomy: Taxonomy, level: str = "fine") -> list[str]:
    """``"<code>_<name>"`` column names in taxonomy order (``level``: fine, coarse or all = fine + coarse).

    The same names as :func:`audiolib.metrics.sonyc_columns`; annotations.csv adds ``_presence``.
    """
    fine = [f"{k}_{v}" for k, v in taxonomy.fine.items()]
    coarse = [f"{k}_{v}" for k, v in taxonomy.coarse.items()]
    if level not in ("fine", "coarse", "all"):
        raise ValueError(f"parameter level: must be 'fine', 'coarse' or 'all', got {level!r}")
    return fine if level == "fine" else coarse if level == "coarse" else fine + coarse


def _find_annotations(root: Path) -> Path:
    for name in ANNOTATION_NAMES:
        if (root / name).is_file():
            return root / name
    raise FileNotFoundError(f"SONYC-UST annotations not found in {root} (looked for {', '.join(ANNOTATION_NAMES)}): "
                            "download the dataset with audiolib.data.sonyc_ust.download_sonyc_ust() or point "
                            "$AUDIOLIB_SONYC_UST_ROOT at an existing copy")


def read_annotations(path=None, taxonomy: Taxonomy | None = None) -> pd.DataFrame:
    """``annotations.csv`` with its columns checked against the taxonomy.

    Args:
        path: the CSV, or a dataset folder holding it; default the dataset root.
        taxonomy: checked to have one ``_presence`` column per fine and coarse code; default the
            yaml next to the CSV.

    Raises:
        ValueError naming the file: missing identifier or presence columns, presence values
        other than -1/0/1, or an unknown split.
    """
    path = Path(path) if path is not None else paths.dataset_root("sonyc-ust")
    if path.is_dir():
        path = _find_annotations(path)
    if not path.is_file():
        raise FileNotFoundError(f"SONYC-UST annotations {path} not found")
    table = pd.read_csv(path, low_memory=False)
    missing = [c for c in ID_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: columns {missing} missing; is this the SONYC-UST annotations.csv?")
    taxonomy = taxonomy or load_taxonomy(path.parent)
    presence = [f"{c}_presence" for c in taxonomy_columns(taxonomy, "all")]
    missing = [c for c in presence if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: {len(missing)} presence column(s) of the taxonomy missing, e.g. {missing[:3]}")
    # a label outside the taxonomy (other than the "<coarse>-X" uncertain tags) is not ignored
    codes = set(taxonomy.fine) | set(taxonomy.coarse) | {f"{c}-X" for c in taxonomy.coarse}
    foreign = [c for c in table.columns if c.endswith("_presence") and c.split("_", 1)[0] not in codes]
    if foreign:
        raise ValueError(f"{path}: presence column(s) {foreign[:5]} name labels not in the taxonomy "
                         f"({len(taxonomy.fine)} fine and {len(taxonomy.coarse)} coarse codes, and the <coarse>-X tags)")
    values = table[presence].to_numpy(dtype=float)
    bad = ~np.isin(values, (-1.0, 0.0, 1.0))
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(f"{path}: presence values must be -1, 0 or 1; row {row + 2} column {presence[col]!r} "
                         f"holds {values[row, col]!r}")
    unknown = sorted(set(table["split"].astype(str)) - {"train", "validate", "test"})
    if unknown:
        raise ValueError(f"{path}: unknown split(s) {unknown}")
    return table


def sonyc_ust_ground_truth(annotations=None, taxonomy: Taxonomy | None = None, split: str = "validate", *,
                           threshold: float = 0.5, soft: bool = False) -> pd.DataFrame:
    """Ground truth of one split, one row per ``audio_filename`` (sorted), as the task defines it.

    Args:
        annotations: the annotations DataFrame, its path, or a dataset folder (default root).
        taxonomy: default the yaml beside the annotations (or the dataset root's).
        split: ``"validate"`` (or ``"test"``): the organisers' verified rows, ``annotator_id == 0``;
            ``"train"``: volunteer rows (``annotator_id > 0``) aggregated by agreement.
        threshold: train only: a tag is positive when the fraction of volunteers who marked it,
            among those who answered (value != -1), is strictly greater than ``threshold``
            (0.5: majority, as the challenge baseline and Tompkins & Nichols; 0: any one
            volunteer). Must lie in [0, 1).
        soft: train only: return the agreement fractions (soft targets) instead of 0/1.

    Returns:
        Columns ``audio_filename``, ``split``, then ``taxonomy_columns(taxonomy, "all")`` (fine
        then coarse) as float64: 0/1, or fractions with ``soft=True``. A tag no volunteer
        answered on a file is 0. The coarse columns are the annotators' own coarse answers
        (on train these are not the OR of the fine ones).
    """
    if not 0.0 <= float(threshold) < 1.0:
        raise ValueError(f"parameter threshold: must lie in [0, 1), got {threshold!r}")
    if annotations is None or isinstance(annotations, (str, Path)):
        source = Path(annotations) if annotations is not None else paths.dataset_root("sonyc-ust")
        if taxonomy is None:
            taxonomy = load_taxonomy(source if source.is_dir() else source.parent)
        annotations = read_annotations(source, taxonomy)
    elif taxonomy is None:
        taxonomy = load_taxonomy()
    columns = taxonomy_columns(taxonomy, "all")
    presence = [f"{c}_presence" for c in columns]
    rows = annotations[annotations["split"] == split]
    if rows.empty:
        raise ValueError(f"parameter split: no annotation row in split {split!r}; splits present: "
                         f"{sorted(annotations['split'].unique())}")
    if split == "train":
        volunteers = rows[rows["annotator_id"] > 0]
        if volunteers.empty:
            raise ValueError("split 'train' has no volunteer (annotator_id > 0) row")
        values = volunteers[presence].to_numpy(dtype=float)
        answered = pd.DataFrame((values != -1).astype(float), columns=columns)
        marked = pd.DataFrame((values == 1).astype(float), columns=columns)
        keys = volunteers["audio_filename"].to_numpy()
        n_answered = answered.groupby(keys).sum()
        agreement = marked.groupby(keys).sum() / n_answered.where(n_answered > 0)
        agreement = agreement.fillna(0.0)
        truth = agreement if soft else (agreement > threshold).astype(float)
        truth = truth.rename_axis("audio_filename").reset_index()
    else:
        verified = rows[rows["annotator_id"] == 0]
        if verified.empty:
            raise ValueError(f"split {split!r} has no verified (annotator_id == 0) row")
        duplicated = verified["audio_filename"][verified["audio_filename"].duplicated()]
        if len(duplicated):
            raise ValueError(f"split {split!r}: several verified rows for {duplicated.iloc[0]!r}")
        unverified = sorted(set(rows["audio_filename"]) - set(verified["audio_filename"]))
        if unverified:
            raise ValueError(f"split {split!r}: {len(unverified)} file(s) without a verified row, e.g. {unverified[:3]}")
        truth = verified[["audio_filename"] + presence].rename(columns=dict(zip(presence, columns)))
        truth[columns] = truth[columns].astype(float).clip(lower=0.0)
    truth.insert(1, "split", split)
    return truth.sort_values("audio_filename").reset_index(drop=True)


# --- the ClipSet -----------------------------------------------------------------------------------
def _audio_folder(root: Path, split: str) -> Path:
    for folder in (root / "audio" / split, root / split):
        if folder.is_dir():
            return folder
    return root / "audio" / split


def _labels_only(row) -> tuple:
    raise FileNotFoundError(f"{row['clip_id']}: loaded with audio=False (labels only); "
                            "load_sonyc_ust(audio=True) with the audio present to decode it")


def load_sonyc_ust(root=None, *, splits=SPLITS, threshold: float = 0.5, on_missing: str = "report",
                   sample_rate: int | None = None, check_counts: bool = True, audio: bool = True) -> ClipSet:
    """SONYC-UST as a :class:`ClipSet`, labelled with the task's ground truth.

    Args:
        root: dataset folder; default ``audiolib.paths.dataset_root("sonyc-ust")``
            (``$AUDIOLIB_SONYC_UST_ROOT`` overrides).
        splits: which splits to list (``"train"``, ``"validate"``).
        threshold: the train-split agreement threshold (see :func:`sonyc_ust_ground_truth`).
        on_missing: ``"report"``: annotated files without audio go to ``ClipSet.unusable`` with
            the reason (a warning counts them); ``"error"``: raise ``FileNotFoundError``.
        sample_rate: the loader resamples to this rate; ``None`` keeps 44.1 kHz.
        check_counts: require the release's 2,351 train and 443 validate files (turn off for
            other versions or excerpts of the annotations).
        audio: ``False`` lists every annotated file with its labels and ``path=None`` without
            looking for audio (label statistics where the audio is absent); its loader refuses.

    Returns:
        ClipSet ``"sonyc_ust"`` with ``classes`` = the 29 fine codes (``"1-1"`` ...) in taxonomy
        order and ``taxonomy`` set. Manifest columns: ``clip_id`` (``audio_filename``), ``path``,
        ``split``, ``labels`` (positive fine codes), ``coarse_labels`` (positive coarse codes,
        from the annotators' coarse answers), ``fine_agreement`` / ``coarse_agreement`` (tuples
        of soft targets in code order: volunteer agreement on train, the verified 0/1 on
        validate), ``sensor_id``.
    """
    _recipes.check_on_missing(on_missing)
    root = Path(root) if root is not None else paths.dataset_root("sonyc-ust")
    taxonomy = load_taxonomy(root)
    csv = _find_annotations(root)
    annotations = read_annotations(csv, taxonomy)
    unknown = sorted(set(splits) - set(SPLITS))
    if unknown:
        raise ValueError(f"parameter splits: unknown split(s) {unknown}; allowed: {list(SPLITS)}")
    fine_cols, coarse_cols = taxonomy_columns(taxonomy, "fine"), taxonomy_columns(taxonomy, "coarse")
    fine_codes, coarse_codes = list(taxonomy.fine), list(taxonomy.coarse)
    expected = {"train": N_TRAIN, "validate": N_VALIDATE}
    sensors = annotations.drop_duplicates("audio_filename").set_index("audio_filename")["sensor_id"]
    rows, unusable, listed = [], [], 0
    for split in splits:
        hard = sonyc_ust_ground_truth(annotations, taxonomy, split, threshold=threshold)
        soft = sonyc_ust_ground_truth(annotations, taxonomy, split, soft=True) if split == "train" else hard
        if check_counts and len(hard) != expected[split]:
            raise ValueError(f"{csv}: split {split!r} has {len(hard)} files, the SONYC-UST v1 release has "
                             f"{expected[split]}; pass check_counts=False for another version")
        if check_counts and (len(fine_codes), len(coarse_codes)) != (N_FINE, N_COARSE):
            raise ValueError(f"{root / TAXONOMY_NAME}: {len(coarse_codes)} coarse / {len(fine_codes)} fine tags, "
                             f"expected {N_COARSE} / {N_FINE}")
        listed += len(hard)
        folder = _audio_folder(root, split)
        present = _recipes.index_audio(folder) if audio else {}
        for h, s in zip(hard.to_dict("records"), soft.to_dict("records")):
            name = h["audio_filename"]
            found = present.get(Path(name).stem)
            if audio and (found is None or found[1] == 0):
                reason = "audio folder absent" if not folder.is_dir() else (
                    "audio file not found" if found is None else "empty file (0 bytes)")
                unusable.append(_recipes.unusable_entry(name, folder / name, reason))
                continue
            rows.append({
                "clip_id": name, "path": str(found[0]) if audio else None, "split": split,
                "labels": tuple(code for code, col in zip(fine_codes, fine_cols) if h[col] > 0),
                "coarse_labels": tuple(code for code, col in zip(coarse_codes, coarse_cols) if h[col] > 0),
                "fine_agreement": tuple(float(s[col]) for col in fine_cols),
                "coarse_agreement": tuple(float(s[col]) for col in coarse_cols),
                "sensor_id": sensors.get(name),
            })
    manifest = pd.DataFrame(rows, columns=["clip_id", "path", "split", "labels", "coarse_labels",
                                           "fine_agreement", "coarse_agreement", "sensor_id"])
    _recipes.report_missing("SONYC-UST", csv, unusable, listed, on_missing)
    count = f"{len(manifest)} files" if len(manifest) == listed else f"{len(manifest)} of {listed} annotated files"
    description = (f"SONYC-UST v1 ({count}, {'/'.join(splits)}, {N_COARSE} coarse / {N_FINE} fine tags, "
                   f"train labels: agreement > {threshold:g}, {_recipes.where(root)}"
                   f"{'' if audio else '; labels only, no audio'})")
    return ClipSet(name="sonyc_ust", manifest=manifest, classes=fine_codes,
                   loader=_recipes.FileLoader(sample_rate) if audio else _labels_only,
                   sample_rate=sample_rate or SAMPLE_RATE,
                   taxonomy=taxonomy, unusable=unusable, description=description)

#: The datasets this recipe provides: name -> (loader function, fixed keyword arguments).
DATASETS = {"sonyc_ust": ("load_sonyc_ust", {})}
