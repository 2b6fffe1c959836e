"""AudioSet embeddings: the released TFRecord and packed HDF5 forms, read and written without TensorFlow.

Dataset card
------------
Source
    Gemmeke et al., "Audio Set: an ontology and human-labeled dataset for audio events"
    (ICASSP 2017), https://research.google.com/audioset/. The "features" release
    (:data:`FEATURES_URL`, about 2.4 GB) holds, for every 10 s segment, the 128-d VGGish
    embedding of each 0.96 s second after PCA whitening, clipping to [-2, 2] and 8-bit
    quantisation (:mod:`audiolib.embeddings` implements the same post-processing).
Layout (TFRecord)
    ``audioset_v1_embeddings/{bal_train,eval,unbal_train}/*.tfrecord``; each record is a
    ``tf.train.SequenceExample`` with context features ``video_id`` (bytes),
    ``start_time_seconds`` and ``end_time_seconds`` (float), ``labels`` (int64 indices into
    ``class_labels_indices.csv``) and the feature list ``audio_embedding``: one 128-byte string
    (uint8 per dimension) per second, usually 10. Records are framed as TFRecord: uint64
    length (little endian), masked CRC32C of the length, the bytes, masked CRC32C of the bytes.
Layout (HDF5, packed)
    The form of the common "audioset classification" repositories (Kong et al.):
    ``bal_train.h5``, ``eval.h5``, ``unbal_train.h5`` each with datasets ``x`` [N, 10, 128]
    uint8, ``y`` [N, 527] bool and ``video_id_list`` [N] bytes. Files written here add
    ``n_frames`` [N] (seconds before padding) and the class list as attributes; readers of the
    published layout ignore both.
Classes
    527 evaluated classes in ``class_labels_indices.csv`` (``index, mid, display_name``) out of
    the 632 of ``ontology.json``; both are in ``../shared/data/audioset``.
Licence
    Embeddings and class labels: CC BY 4.0 (Google); ontology: CC BY-SA 4.0.
Shared copy here
    Only ``ontology.json`` and ``class_labels_indices.csv``; no embeddings. The workbook makes
    files of the same format itself (``audiolib embed``, :mod:`audiolib.embeddings`).

Padding: a clip with fewer than ``frames`` (10) seconds is padded at the end with the byte
:data:`PAD_BYTE` (128: 0.0 after the packed files' dequantisation, 0.016 after YouTube-8M's, the
middle of the whitened range) and a longer one is cropped to its first ``frames`` seconds; ``EmbeddingSet.n_frames`` keeps the real count.

>>> records = [EmbeddingRecord("abc", 0.0, 10.0, (0, 3), np.zeros((10, 128), np.uint8))]
>>> path = write_tfrecord_embeddings(tmp / "a.tfrecord", records)   # doctest: +SKIP
>>> read_tfrecord_embeddings(path)[0].labels                          # doctest: +SKIP
(0, 3)
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from audiolib import paths

__all__ = [
    "AudioSetFormatError",
    "EmbeddingRecord",
    "EmbeddingSet",
    "FEATURES_URL",
    "PAD_BYTE",
    "EMBEDDING_DIM",
    "crc32c",
    "masked_crc32c",
    "read_tfrecord",
    "write_tfrecord",
    "encode_sequence_example",
    "decode_sequence_example",
    "encode_embedding_record",
    "decode_embedding_record",
    "read_tfrecord_embeddings",
    "write_tfrecord_embeddings",
    "read_hdf5_embeddings",
    "write_hdf5_embeddings",
    "load_embeddings",
    "concat_embeddings",
    "load_class_labels",
    "write_class_labels",
    "load_ontology",
    "dequantize",
    "binary_labels",
    "download_audioset_embeddings",
]

FEATURES_URL = "http://storage.googleapis.com/us_audioset/youtube_corpus/v1/features/features.tar.gz"
CLASS_LABELS_URL = "http://storage.googleapis.com/us_audioset/youtube_corpus/v1/csv/class_labels_indices.csv"
ONTOLOGY_URL = "https://raw.githubusercontent.com/audioset/ontology/master/ontology.json"
SPLITS = ("bal_train", "eval", "unbal_train")
EMBEDDING_DIM = 128
N_CLASSES = 527
PAD_BYTE = 128
QUANTIZE_MIN, QUANTIZE_MAX = -2.0, 2.0


class AudioSetFormatError(ValueError):
    """A file that is not valid AudioSet embedding data; the message names the file (and record)."""


# --- CRC32C (Castagnoli), table driven --------------------------------------------------------
def _crc32c_table() -> list[int]:
    poly = 0x82F63B78  # reflected 0x1EDC6F41
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(poly), table >> 1).astype(np.uint32)
    return [int(v) for v in table]


_TABLE = _crc32c_table()


def _crc32c_python(data: bytes, crc: int = 0) -> int:
    table = _TABLE
    crc ^= 0xFFFFFFFF
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


try:  # an optional accelerated implementation, used only when the user has installed one
    import google_crc32c as _fast_crc  # type: ignore

    def _crc32c_fast(data: bytes) -> int:
        return int(_fast_crc.value(bytes(data)))
except ImportError:  # pragma: no cover - depends on the environment
    _crc32c_fast = None


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli polynomial, reflected, init and final XOR 0xFFFFFFFF) of ``data``.

    A 256-entry table-driven implementation in pure Python (``google_crc32c`` is used instead
    when installed). Fast enough for the workbook's files (about 10 MB/s); the full
    ``unbal_train`` release is best checked with the accelerated package.

    >>> hex(crc32c(b"123456789"))
    '0xe3069283'
    """
    if _crc32c_fast is not None:
        return _crc32c_fast(data)
    return _crc32c_python(bytes(data))


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC: ``((crc >> 15) | (crc << 17)) + 0xa282ead8`` modulo 2**32."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# --- TFRecord framing -------------------------------------------------------------------------
def write_tfrecord(path: str | Path, records: Iterable[bytes]) -> Path:
    """Write ``records`` (serialised protos) to ``path`` in TFRecord framing (atomically).

    Returns ``path``.
    """
    from audiolib.results import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        for data in records:
            data = bytes(data)
            length = struct.pack("<Q", len(data))
            f.write(length)
            f.write(struct.pack("<I", masked_crc32c(length)))
            f.write(data)
            f.write(struct.pack("<I", masked_crc32c(data)))
    return path


def read_tfrecord(path: str | Path, *, check_crc: bool = True) -> Iterator[bytes]:
    """Yield the records of a TFRecord file, checking both CRCs of each (unless ``check_crc=False``).

    Raises:
        AudioSetFormatError: naming the file, the record number (counting from 0) and its byte
            offset, for a truncated record or a CRC mismatch.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"TFRecord file {path} does not exist")
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        index = 0
        while True:
            offset = f.tell()
            header = f.read(12)
            if not header:
                return
            where = f"{path}: record {index} (counting from 0) at byte {offset}"
            if len(header) < 12:
                raise AudioSetFormatError(f"{where}: truncated header ({len(header)} of 12 bytes)")
            length_bytes, (length_crc,) = header[:8], struct.unpack("<I", header[8:])
            if check_crc and masked_crc32c(length_bytes) != length_crc:
                raise AudioSetFormatError(f"{where}: length CRC mismatch (corrupt or not a TFRecord file)")
            (length,) = struct.unpack("<Q", length_bytes)
            left = size - f.tell() - 4  # the bytes a record can have: what remains less its CRC
            if length > left:  # checked before reading: a lying header never allocates its length
                raise AudioSetFormatError(f"{where}: truncated record: its header declares {length} bytes but only "
                                          f"{max(left, 0)} remain in the file")
            data = f.read(length)
            footer = f.read(4)
            if len(data) < length or len(footer) < 4:
                raise AudioSetFormatError(f"{where}: truncated record ({len(data)} of {length} bytes)")
            if check_crc and masked_crc32c(data) != struct.unpack("<I", footer)[0]:
                raise AudioSetFormatError(f"{where}: data CRC mismatch (the record is corrupt)")
            yield data
            index += 1


# --- protobuf wire format (the parts tf.train.SequenceExample uses) ---------------------------
def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64  # int64 as two's complement, 10 bytes
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def _field(number: int, wire_type: int) -> bytes:
    return _varint((number << 3) | wire_type)


def _len_field(number: int, payload: bytes) -> bytes:
    return _field(number, 2) + _varint(len(payload)) + payload


def _fields(buf: bytes) -> Iterator[tuple[int, int, object]]:
    """``(field number, wire type, value)``: value is an int (varint, fixed) or bytes (length-delimited)."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(buf, pos)
        elif wire == 1:
            if pos + 8 > end:
                raise ValueError("truncated 64-bit field")
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 2:
            length, pos = _read_varint(buf, pos)
            if pos + length > end:
                raise ValueError(f"field {number}: length {length} runs past the end of its message")
            value, pos = buf[pos:pos + length], pos + length
        elif wire == 5:
            if pos + 4 > end:
                raise ValueError("truncated 32-bit field")
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire} (field {number})")
        yield number, wire, value


def _encode_feature(kind: str, values) -> bytes:
    """A ``tf.train.Feature``: ``kind`` is ``bytes``, ``float`` or ``int64`` (lists packed, as TF writes)."""
    if kind == "bytes":
        inner = b"".join(_len_field(1, bytes(v)) for v in values)
        return _len_field(1, inner)
    if kind == "float":
        packed = np.asarray(values, dtype="<f4").tobytes()
        return _len_field(2, _len_field(1, packed) if packed else b"")
    if kind == "int64":
        packed = b"".join(_varint(int(v)) for v in values)
        return _len_field(3, _len_field(1, packed) if packed else b"")
    raise ValueError(f"feature kind must be 'bytes', 'float' or 'int64', got {kind!r}")


def _decode_feature(buf: bytes) -> tuple[str, list]:
    kind, values = None, []
    for number, wire, payload in _fields(buf):
        if wire != 2 or number not in (1, 2, 3):
            continue
        kind = {1: "bytes", 2: "float", 3: "int64"}[number]
        for inner_number, inner_wire, value in _fields(payload):
            if inner_number != 1:
                continue
            if kind == "bytes":
                values.append(bytes(value))
            elif kind == "float":
                values.extend(np.frombuffer(value, dtype="<f4").tolist() if inner_wire == 2
                              else struct.unpack("<f", value))
            elif inner_wire == 2:  # packed int64 varints
                pos = 0
                while pos < len(value):
                    v, pos = _read_varint(value, pos)
                    values.append(v - (1 << 64) if v >= 1 << 63 else v)
            else:
                values.append(value - (1 << 64) if value >= 1 << 63 else value)
    return kind or "bytes", values


def _encode_map(entries: dict[str, bytes]) -> bytes:
    """A protobuf ``map<string, Message>`` field number 1: one entry message per key."""
    return b"".join(_len_field(1, _len_field(1, key.encode()) + _len_field(2, value))
                    for key, value in entries.items())


def _decode_map(buf: bytes) -> dict[str, bytes]:
    out = {}
    for number, wire, entry in _fields(buf):
        if number != 1 or wire != 2:
            continue
        key, value = "", b""
        for n, w, v in _fields(entry):
            if n == 1 and w == 2:
                key = bytes(v).decode()
            elif n == 2 and w == 2:
                value = bytes(v)
        out[key] = value
    return out


def encode_sequence_example(context: dict[str, tuple[str, list]],
                            feature_lists: dict[str, tuple[str, list[list]]]) -> bytes:
    """Serialise a ``tf.train.SequenceExample``.

    Args:
        context: name -> ``(kind, values)`` with kind ``bytes``/``float``/``int64``.
        feature_lists: name -> ``(kind, [values of step 0, values of step 1, ...])``.
    """
    ctx = _encode_map({k: _encode_feature(kind, v) for k, (kind, v) in context.items()})
    lists = {k: b"".join(_len_field(1, _encode_feature(kind, step)) for step in steps)
             for k, (kind, steps) in feature_lists.items()}
    fl = _encode_map(lists)
    return _len_field(1, ctx) + _len_field(2, fl)


def decode_sequence_example(data: bytes) -> tuple[dict[str, tuple[str, list]], dict[str, list[tuple[str, list]]]]:
    """Parse a serialised ``tf.train.SequenceExample`` into ``(context, feature_lists)``.

    ``context[name] = (kind, values)``; ``feature_lists[name] = [(kind, values), ...]`` one per
    step. Packed and unpacked repeated scalars are both accepted; unknown fields are skipped.
    Raises ``ValueError`` on malformed bytes.
    """
    context: dict[str, tuple[str, list]] = {}
    feature_lists: dict[str, list[tuple[str, list]]] = {}
    for number, wire, payload in _fields(bytes(data)):
        if wire != 2:
            continue
        if number == 1:
            context.update({k: _decode_feature(v) for k, v in _decode_map(payload).items()})
        elif number == 2:
            for name, flist in _decode_map(payload).items():
                feature_lists[name] = [_decode_feature(f) for n, w, f in _fields(flist) if n == 1 and w == 2]
    return context, feature_lists


# --- AudioSet records -------------------------------------------------------------------------
@dataclass
class EmbeddingRecord:
    """One AudioSet segment as released: ids, times, label indices and ``[seconds, 128]`` uint8."""

    video_id: str
    start_time_seconds: float
    end_time_seconds: float
    labels: tuple[int, ...]
    embedding: np.ndarray

    def __post_init__(self):
        self.embedding = np.asarray(self.embedding)
        if self.embedding.dtype != np.uint8 or self.embedding.ndim != 2 or self.embedding.shape[1] != EMBEDDING_DIM:
            raise ValueError(f"record {self.video_id!r}: embedding must be uint8 [seconds, {EMBEDDING_DIM}], "
                             f"got {self.embedding.dtype} {tuple(self.embedding.shape)}")
        self.labels = tuple(int(v) for v in self.labels)


def encode_embedding_record(record: EmbeddingRecord) -> bytes:
    """Serialise a record the way the AudioSet release does."""
    return encode_sequence_example(
        {"video_id": ("bytes", [record.video_id.encode()]),
         "start_time_seconds": ("float", [record.start_time_seconds]),
         "end_time_seconds": ("float", [record.end_time_seconds]),
         "labels": ("int64", list(record.labels))},
        {"audio_embedding": ("bytes", [[row.tobytes()] for row in record.embedding])})


def decode_embedding_record(data: bytes, *, where: str = "record") -> EmbeddingRecord:
    """Parse one released record; ``where`` names it in errors (file and record number)."""
    try:
        context, lists = decode_sequence_example(data)
    except ValueError as exc:
        raise AudioSetFormatError(f"{where}: not a valid SequenceExample ({exc})") from None
    missing = [k for k in ("video_id", "labels") if k not in context]
    if missing or "audio_embedding" not in lists:
        raise AudioSetFormatError(f"{where}: missing {missing + ([] if 'audio_embedding' in lists else ['audio_embedding'])}")
    rows = []
    for second, (kind, values) in enumerate(lists["audio_embedding"]):
        if kind != "bytes" or len(values) != 1 or len(values[0]) != EMBEDDING_DIM:
            size = len(values[0]) if values and kind == "bytes" else None
            raise AudioSetFormatError(f"{where}: audio_embedding step {second} is not one {EMBEDDING_DIM}-byte "
                                      f"string (kind {kind}, {len(values)} value(s), size {size})")
        rows.append(np.frombuffer(values[0], dtype=np.uint8))
    embedding = np.stack(rows) if rows else np.zeros((0, EMBEDDING_DIM), np.uint8)
    start = context.get("start_time_seconds", ("float", [0.0]))[1]
    end = context.get("end_time_seconds", ("float", [float(len(rows))]))[1]
    video_ids = context["video_id"][1]
    if len(video_ids) != 1:
        raise AudioSetFormatError(f"{where}: expected one video_id, got {len(video_ids)}")
    return EmbeddingRecord(video_ids[0].decode(errors="replace"), float(start[0]) if start else 0.0,
                           float(end[0]) if end else float(len(rows)), tuple(context["labels"][1]), embedding)


def write_tfrecord_embeddings(path: str | Path, records: Iterable[EmbeddingRecord]) -> Path:
    """Write records as one ``.tfrecord`` file of the AudioSet release."""
    return write_tfrecord(path, (encode_embedding_record(r) for r in records))


def read_tfrecord_embeddings(path: str | Path, *, check_crc: bool = True) -> list[EmbeddingRecord]:
    """All records of one ``.tfrecord`` file (CRCs checked); errors name file and record number."""
    out = []
    for index, data in enumerate(read_tfrecord(path, check_crc=check_crc)):
        out.append(decode_embedding_record(data, where=f"{path}: record {index} (counting from 0)"))
    return out


# --- class labels and ontology ----------------------------------------------------------------
def _default_label_file(name: str) -> Path:
    return paths.dataset_root("audioset") / name


def load_class_labels(path: str | Path | None = None) -> pd.DataFrame:
    """``class_labels_indices.csv`` as a DataFrame (``index``, ``mid``, ``display_name``), by index.

    Default: the AudioSet file in ``dataset_root("audioset")`` (the shared copy when present).
    Checks that the indices are exactly ``0..n-1`` and the mids unique.
    """
    path = Path(path) if path is not None else _default_label_file("class_labels_indices.csv")
    if not path.is_file():
        raise FileNotFoundError(f"class label file {path} does not exist; download it with "
                                f"download_audioset_embeddings() or pass the path")
    table = pd.read_csv(path, dtype={"mid": str, "display_name": str})
    missing = {"index", "mid", "display_name"} - set(table.columns)
    if missing:
        raise AudioSetFormatError(f"{path}: missing column(s) {sorted(missing)}; expected index, mid, display_name")
    table = table.sort_values("index").reset_index(drop=True)
    if not np.array_equal(table["index"].to_numpy(), np.arange(len(table))):
        raise AudioSetFormatError(f"{path}: indices are not 0..{len(table) - 1}")
    if table["mid"].duplicated().any():
        raise AudioSetFormatError(f"{path}: duplicated mid {table['mid'][table['mid'].duplicated()].iloc[0]!r}")
    return table


def write_class_labels(path: str | Path, class_ids: Sequence[str], names: Sequence[str]) -> Path:
    """Write a ``class_labels_indices.csv`` (index, mid, display_name) for a label space."""
    from audiolib.results import atomic_path

    if len(class_ids) != len(names):
        raise ValueError(f"class_ids ({len(class_ids)}) and names ({len(names)}) differ in length")
    table = pd.DataFrame({"index": range(len(names)), "mid": list(class_ids), "display_name": list(names)})
    with atomic_path(Path(path)) as tmp:
        table.to_csv(tmp, index=False)
    return Path(path)


def load_ontology(path: str | Path | None = None) -> dict[str, dict]:
    """``ontology.json`` as ``mid -> entry`` (``name``, ``child_ids``, ``restrictions`` ...), with ``parents`` added.

    Checks the file is a list of objects each with a string ``id`` and ``name`` and a list of
    string ``child_ids`` naming other entries, and that no class is its own ancestor; errors
    name the file, the entry and the field.
    """
    path = Path(path) if path is not None else _default_label_file("ontology.json")
    if not path.is_file():
        raise FileNotFoundError(f"ontology file {path} does not exist")
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AudioSetFormatError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(entries, list):
        raise AudioSetFormatError(f"{path}: expected a list of class entries, got a {type(entries).__name__}")
    ontology: dict[str, dict] = {}
    for k, e in enumerate(entries):
        where = f"{path}: entry {k}"
        if not isinstance(e, dict):
            raise AudioSetFormatError(f"{where}: expected an object, got {type(e).__name__} {e!r:.60}")
        for key in ("id", "name"):
            if not isinstance(e.get(key), str):
                raise AudioSetFormatError(f"{where}: field {key!r} must be a string, got {e.get(key)!r:.60}")
        children = e.get("child_ids", [])
        if not isinstance(children, list) or not all(isinstance(c, str) for c in children):
            raise AudioSetFormatError(f"{where} ({e['id']}): field 'child_ids' must be a list of strings, "
                                      f"got {children!r:.60}")
        if e["id"] in ontology:
            raise AudioSetFormatError(f"{where}: id {e['id']} appears twice")
        ontology[e["id"]] = {**e, "parents": []}
    for mid, entry in ontology.items():
        for child in entry.get("child_ids", []):
            if child not in ontology:
                raise AudioSetFormatError(f"{path}: {mid} lists unknown child {child}")
            ontology[child]["parents"].append(mid)
    cycle = _find_cycle(ontology)
    if cycle:
        raise AudioSetFormatError(f"{path}: child_ids form a cycle {' -> '.join(cycle)}; a class cannot be its own "
                                  "ancestor")
    return ontology


def _find_cycle(ontology: dict[str, dict]) -> list[str] | None:
    """A cycle of ``child_ids`` (its ids, the first repeated at the end), or ``None``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in ontology:
        if state.get(start):
            continue
        path, stack = [start], [iter(ontology[start].get("child_ids", []))]
        state[start] = 1
        while stack:
            child = next(stack[-1], None)
            if child is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(child) == 1:
                return path[path.index(child):] + [child]
            elif not state.get(child):
                state[child] = 1
                path.append(child)
                stack.append(iter(ontology[child].get("child_ids", [])))
    return None


# --- the in-memory form: a dataset for training ----------------------------------------------
def dequantize(x, scheme: str = "yt8m") -> np.ndarray:
    """uint8 embeddings -> float32.

    ``scheme="yt8m"``: the YouTube-8M / AudioSet starter code's ``Dequantize``,
    ``x * 4 / 255 + 4 / 512 - 2`` (about the centre of each truncation bin of [-2, 2]);
    ``scheme="centered"``: the packed-HDF5 repositories' ``(x - 128) / 128`` (range [-1, 1)).

    >>> dequantize(np.array([0, 128], np.uint8), "centered").tolist()
    [-1.0, 0.0]
    """
    x = np.asarray(x)
    if x.dtype != np.uint8:
        raise ValueError(f"dequantize expects uint8 embeddings, got {x.dtype}")
    span = QUANTIZE_MAX - QUANTIZE_MIN
    if scheme == "yt8m":
        return x.astype(np.float32) * np.float32(span / 255.0) + np.float32(span / 512.0 + QUANTIZE_MIN)
    if scheme == "centered":
        return (x.astype(np.float32) - 128.0) / 128.0
    raise ValueError(f"dequantize: scheme must be 'yt8m' or 'centered', got {scheme!r}")


@dataclass
class EmbeddingSet(Dataset):
    """Clips as fixed-size quantised embeddings with multi-hot targets.

    Attributes:
        x: ``[N, frames, 128]`` uint8 (10 frames of 0.96 s in the AudioSet release).
        y: ``[N, C]`` bool.
        clip_ids: ``N`` ids (YouTube video ids for AudioSet).
        classes: ``C`` display names; ``class_ids`` the matching codes (AudioSet mids).
        n_frames: ``[N]`` seconds before padding/cropping.
        start_time, end_time: ``[N]`` seconds within the source recording.
        folds: ``[N]`` fold or split labels (strings), or ``None``.
        name, description: what the data is (goes next to tables).
        scheme: dequantisation scheme (:func:`dequantize`).

    ``dataset[i]`` is ``(float32 [frames, 128], float32 [C])``; ``get_batch(idx)`` stacks them.
    """

    x: np.ndarray
    y: np.ndarray
    clip_ids: list[str]
    classes: list[str]
    class_ids: list[str] = field(default_factory=list)
    n_frames: np.ndarray | None = None
    start_time: np.ndarray | None = None
    end_time: np.ndarray | None = None
    folds: np.ndarray | None = None
    name: str = "embeddings"
    description: str = ""
    scheme: str = "yt8m"

    def __post_init__(self):
        self.x = np.asarray(self.x)
        self.y = binary_labels(self.y, where=f"EmbeddingSet {self.name}: y")
        n = self.x.shape[0]
        if self.x.dtype != np.uint8 or self.x.ndim != 3 or self.x.shape[2] != EMBEDDING_DIM:
            raise ValueError(f"EmbeddingSet {self.name}: x must be uint8 [N, frames, {EMBEDDING_DIM}], "
                             f"got {self.x.dtype} {tuple(self.x.shape)}")
        if self.y.ndim != 2 or self.y.shape[0] != n:
            raise ValueError(f"EmbeddingSet {self.name}: y must be [{n}, C], got {tuple(self.y.shape)}")
        if len(self.classes) != self.y.shape[1]:
            raise ValueError(f"EmbeddingSet {self.name}: {len(self.classes)} class names for {self.y.shape[1]} columns")
        self.class_ids = list(self.class_ids) or list(self.classes)
        self.clip_ids = [str(c) for c in self.clip_ids]
        if len(self.clip_ids) != n:
            raise ValueError(f"EmbeddingSet {self.name}: {len(self.clip_ids)} clip ids for {n} clips")
        frames = self.x.shape[1]
        self.n_frames = np.full(n, frames, np.int64) if self.n_frames is None else np.asarray(self.n_frames, np.int64)
        self.start_time = np.zeros(n) if self.start_time is None else np.asarray(self.start_time, np.float64)
        self.end_time = self.n_frames * 0.96 if self.end_time is None else np.asarray(self.end_time, np.float64)
        if self.folds is not None:
            self.folds = np.asarray(self.folds).astype(str)
        self._features = None

    # -- dataset protocol ------------------------------------------------------------------
    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def example_shape(self) -> tuple[int, int]:
        return tuple(self.x.shape[1:])

    def features(self) -> np.ndarray:
        """Dequantised ``[N, frames, 128]`` float32 (computed once)."""
        if self._features is None:
            self._features = torch.from_numpy(dequantize(self.x, self.scheme))
        return self._features.numpy()

    def targets(self) -> np.ndarray:
        """``[N, C]`` float32."""
        return self.y.astype(np.float32)

    def __getitem__(self, i: int):
        self.features()
        return self._features[i], torch.from_numpy(self.y[i].astype(np.float32))

    def get_batch(self, idx):
        """``(x [B, frames, 128] float32, y [B, C] float32)`` for indices ``idx``."""
        self.features()
        idx = torch.as_tensor(idx, dtype=torch.long)
        return self._features[idx], torch.from_numpy(self.y[idx.numpy()].astype(np.float32))

    # -- selections --------------------------------------------------------------------------
    def subset(self, rows, *, name: str | None = None) -> "EmbeddingSet":
        """The clips at ``rows`` (boolean mask or indices)."""
        rows = np.asarray(rows)
        rows = np.flatnonzero(rows) if rows.dtype == bool else rows.astype(np.int64)
        return EmbeddingSet(self.x[rows], self.y[rows], [self.clip_ids[i] for i in rows], list(self.classes),
                            list(self.class_ids), self.n_frames[rows], self.start_time[rows], self.end_time[rows],
                            None if self.folds is None else self.folds[rows], name or self.name, self.description,
                            self.scheme)

    def select_classes(self, columns) -> "EmbeddingSet":
        """The same clips with targets restricted to ``columns`` (indices)."""
        columns = list(np.asarray(columns, dtype=np.int64))
        return EmbeddingSet(self.x, self.y[:, columns], list(self.clip_ids), [self.classes[c] for c in columns],
                            [self.class_ids[c] for c in columns], self.n_frames, self.start_time, self.end_time,
                            self.folds, self.name, self.description, self.scheme)

    def to_records(self) -> list[EmbeddingRecord]:
        """One :class:`EmbeddingRecord` per clip (padding removed, labels as column indices)."""
        return [EmbeddingRecord(self.clip_ids[i], float(self.start_time[i]), float(self.end_time[i]),
                                tuple(np.flatnonzero(self.y[i]).tolist()),
                                self.x[i, :max(1, min(int(self.n_frames[i]), self.x.shape[1]))])
                for i in range(len(self))]

    @classmethod
    def from_records(cls, records: Sequence[EmbeddingRecord], classes: Sequence[str], *,
                     class_ids: Sequence[str] | None = None, frames: int = 10, name: str = "embeddings",
                     description: str = "", folds=None, where: str = "records") -> "EmbeddingSet":
        """Stack records into fixed ``frames`` (pad with :data:`PAD_BYTE` / crop); labels index ``classes``."""
        n, c = len(records), len(classes)
        x = np.full((n, frames, EMBEDDING_DIM), PAD_BYTE, np.uint8)
        y = np.zeros((n, c), bool)
        n_frames = np.zeros(n, np.int64)
        for i, rec in enumerate(records):
            bad = [label for label in rec.labels if not 0 <= label < c]
            if bad:
                raise AudioSetFormatError(f"{where}: clip {i} ({rec.video_id}) has label index {bad[0]} outside "
                                          f"0..{c - 1} of the class list")
            keep = min(frames, rec.embedding.shape[0])
            x[i, :keep] = rec.embedding[:keep]
            y[i, list(rec.labels)] = True
            n_frames[i] = rec.embedding.shape[0]
        return cls(x, y, [r.video_id for r in records], list(classes), list(class_ids or classes), n_frames,
                   np.array([r.start_time_seconds for r in records]), np.array([r.end_time_seconds for r in records]),
                   folds, name, description)


def binary_labels(y, *, where: str, soft_threshold: float | None = None) -> np.ndarray:
    """``y`` as a bool array, accepting only ``False``/``True`` or the numbers 0 and 1.

    Soft labels (values between 0 and 1, e.g. annotator agreement) are read only when declared:
    ``soft_threshold=t`` makes ``y >= t`` positive. Anything else (0.5 undeclared, -7, "no",
    NaN) raises :class:`AudioSetFormatError` naming ``where``, the value and its position.
    """
    y = np.asarray(y)
    if y.dtype == bool:
        return y
    if y.dtype.kind not in "iuf":
        raise AudioSetFormatError(f"{where}: labels must be 0/1 numbers or booleans, got {y.dtype} values "
                                  f"such as {y.flat[0]!r:.40}" if y.size else f"{where}: labels of type {y.dtype}")
    low, high = (0, 1)
    outside = ~((y >= low) & (y <= high)) if soft_threshold is not None else ~((y == 0) | (y == 1))
    if outside.any():
        pos = tuple(int(i) for i in np.argwhere(outside)[0])
        allowed = "in 0..1 (soft labels)" if soft_threshold is not None else "0 or 1"
        hint = "" if soft_threshold is not None else (
            "; if they are soft labels (e.g. annotator agreement), pass soft_threshold=T to read y >= T as positive")
        raise AudioSetFormatError(f"{where}: labels must be {allowed}, found {y[pos].item()!r} at {pos}{hint}")
    return y >= soft_threshold if soft_threshold is not None else y == 1


# --- HDF5 (packed) ----------------------------------------------------------------------------
def write_hdf5_embeddings(path: str | Path, data: EmbeddingSet) -> Path:
    """Write ``data`` as a packed HDF5 file: ``x`` uint8 [N, frames, 128], ``y`` bool [N, C],
    ``video_id_list`` bytes [N] (the published layout) plus ``n_frames``, ``start_time``,
    ``end_time``, optional ``folds``, and attributes ``class_ids``/``class_names`` (JSON)."""
    import h5py

    from audiolib.results import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as hf:
            hf.create_dataset("x", data=data.x, dtype=np.uint8)
            hf.create_dataset("y", data=data.y, dtype=bool)
            hf.create_dataset("video_id_list", data=np.array([c.encode() for c in data.clip_ids], dtype="S"))
            hf.create_dataset("n_frames", data=data.n_frames)
            hf.create_dataset("start_time", data=data.start_time)
            hf.create_dataset("end_time", data=data.end_time)
            if data.folds is not None:
                hf.create_dataset("folds", data=np.array([f.encode() for f in data.folds], dtype="S"))
            hf.attrs["class_ids"] = json.dumps(list(data.class_ids))
            hf.attrs["class_names"] = json.dumps(list(data.classes))
            hf.attrs["name"] = data.name
            hf.attrs["description"] = data.description
    return path


class _NamedHDF5Errors:
    """Turn h5py's errors on a damaged file (``OSError``, ``RuntimeError``, ``KeyError`` ...) into an
    :class:`AudioSetFormatError` naming the file; missing files and our own errors pass through."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is None or isinstance(exc, (AudioSetFormatError, FileNotFoundError)):
            return False
        if isinstance(exc, (OSError, RuntimeError, KeyError, ValueError)):
            raise AudioSetFormatError(f"{self.path}: corrupt HDF5 file ({type(exc).__name__}: {exc})") from None
        return False


#: A dataset may store its bytes compressed; a declared size beyond this ratio to what the file
#: holds for it is a damaged or hostile header (packed AudioSet files are stored uncompressed).
_MAX_COMPRESSION = 64


def read_hdf5_embeddings(path: str | Path, *, class_labels: str | Path | None = None,
                         name: str | None = None, soft_threshold: float | None = None) -> EmbeddingSet:
    """Read a packed HDF5 file (the published ``bal_train.h5`` layout or one written here).

    Class names come from the file's attributes when present, else from ``class_labels``
    (default: AudioSet's ``class_labels_indices.csv``), whose length must match ``y``.
    Every dataset's dtype and shape is checked from the file's header before anything is read
    (and ``x`` must not declare more bytes than the file can hold); labels must be 0/1 unless
    ``soft_threshold`` declares them soft (see :func:`binary_labels`). Errors name the file and
    the dataset or attribute.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"HDF5 embedding file {path} does not exist")
    try:
        hf = h5py.File(path, "r")
    except OSError as exc:
        raise AudioSetFormatError(f"{path}: not a readable HDF5 file ({exc})") from None
    with hf, _NamedHDF5Errors(path):
        missing = [k for k in ("x", "y", "video_id_list") if k not in hf]
        if missing:
            raise AudioSetFormatError(f"{path}: missing dataset(s) {missing}; expected x, y, video_id_list")
        n = _check_x_header(hf, path)
        y_set = _dataset(hf, path, "y", ndim=2, kinds="biuf", n=n)
        classes, class_ids = _hdf5_classes(hf, path, class_labels)
        if len(classes) != y_set.shape[1]:
            raise AudioSetFormatError(f"{path}: y has {y_set.shape[1]} columns but the class list has {len(classes)}")
        ids = _strings(_dataset(hf, path, "video_id_list", ndim=1, kinds="SOU", n=n)[()], path, "video_id_list")
        extra = {k: _dataset(hf, path, k, ndim=1, kinds="iuf" if k != "n_frames" else "iu", n=n)[()]
                 for k in ("n_frames", "start_time", "end_time") if k in hf}
        if "n_frames" in extra and (extra["n_frames"] < 0).any():
            raise AudioSetFormatError(f"{path}: dataset 'n_frames' holds negative counts")
        for k in ("start_time", "end_time"):
            if k in extra and not np.isfinite(extra[k]).all():
                raise AudioSetFormatError(f"{path}: dataset {k!r} holds non-finite times")
        folds = (np.array(_strings(_dataset(hf, path, "folds", ndim=1, kinds="SOU", n=n)[()], path, "folds"))
                 if "folds" in hf else None)
        y = binary_labels(y_set[()], where=f"{path}: dataset 'y'", soft_threshold=soft_threshold)
        x = hf["x"][()]
        file_name = str(hf.attrs.get("name", path.stem))
        description = str(hf.attrs.get("description", f"AudioSet-format embeddings from {path.name}"))
    return EmbeddingSet(x, y, ids, classes, class_ids, extra.get("n_frames"), extra.get("start_time"),
                        extra.get("end_time"), folds, name or file_name, description)


def _dataset(hf, path: Path, key: str, *, ndim: int, kinds: str, n: int | None = None):
    """``hf[key]`` checked from its header: a dataset of ``ndim`` dimensions, dtype kind in ``kinds``."""
    import h5py

    ds = hf[key]
    if not isinstance(ds, h5py.Dataset):
        raise AudioSetFormatError(f"{path}: {key!r} must be a dataset, found a {type(ds).__name__}")
    if ds.ndim != ndim or ds.dtype.kind not in kinds or (n is not None and ds.shape[0] != n):
        need = f"[{n if n is not None else 'N'}{', ...' if ndim > 1 else ''}]"
        raise AudioSetFormatError(f"{path}: dataset {key!r} must be {ndim}-d {need} of kind {kinds!r}, "
                                  f"found {ds.dtype} {ds.shape}")
    return ds


def _check_x_header(hf, path: Path) -> int:
    """The clip count of ``x`` after checking its dtype, shape and declared size from the header."""
    ds = _dataset(hf, path, "x", ndim=3, kinds="biufcmMOSUV")
    if ds.dtype != np.uint8 or ds.shape[2] != EMBEDDING_DIM:
        raise AudioSetFormatError(f"{path}: x must be uint8 [N, frames, {EMBEDDING_DIM}], got {ds.dtype} {ds.shape}")
    declared, stored = int(np.prod(ds.shape, dtype=np.int64)), ds.id.get_storage_size()
    if declared > _MAX_COMPRESSION * stored + (1 << 20):
        raise AudioSetFormatError(f"{path}: x declares {ds.shape} ({declared} bytes) but the file stores only "
                                  f"{stored} bytes of it: the header is damaged or the data was never written")
    return ds.shape[0]


def _strings(values, path: Path, key: str) -> list[str]:
    out = []
    for i, v in enumerate(values):
        if isinstance(v, bytes):
            out.append(v.decode("utf-8", errors="replace"))
        elif isinstance(v, str):
            out.append(v)
        else:
            raise AudioSetFormatError(f"{path}: dataset {key!r} item {i} is {type(v).__name__} {v!r:.40}, not a string")
    return out


def _hdf5_classes(hf, path: Path, class_labels) -> tuple[list[str], list[str]]:
    """Class names and ids from the ``class_names``/``class_ids`` attributes, else from ``class_labels``."""
    if "class_names" not in hf.attrs:
        labels = load_class_labels(class_labels)
        return labels["display_name"].tolist(), labels["mid"].tolist()
    names = _json_strings(hf.attrs["class_names"], path, "class_names")
    ids = _json_strings(hf.attrs["class_ids"], path, "class_ids") if "class_ids" in hf.attrs else list(names)
    if len(ids) != len(names):
        raise AudioSetFormatError(f"{path}: attribute 'class_ids' has {len(ids)} entries, 'class_names' {len(names)}")
    return names, ids


def _json_strings(raw, path: Path, key: str) -> list[str]:
    try:
        values = json.loads(raw)
    except (TypeError, ValueError) as exc:
        raise AudioSetFormatError(f"{path}: attribute {key!r} is not a JSON list of strings ({exc})") from None
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise AudioSetFormatError(f"{path}: attribute {key!r} must be a JSON list of strings, got {values!r:.60}")
    return values


# --- directories of files -------------------------------------------------------------------
def load_embeddings(source: str | Path, *, split: str | None = None, frames: int = 10,
                    class_labels: str | Path | None = None, check_crc: bool = True) -> EmbeddingSet:
    """Load AudioSet-format embeddings from a file or folder.

    ``source`` may be a ``.h5``/``.hdf5`` file, a ``.tfrecord`` file, or a folder holding
    ``<split>/*.tfrecord`` (the release's layout) or ``<split>.h5`` files (all of them, one
    after the other, when ``split`` is ``None``). For TFRecords the class
    list is ``class_labels`` or, when absent, the ``class_labels_indices.csv`` found in the
    folder (or its parent), else AudioSet's. ``folds`` holds each clip's split folder name.
    """
    source = Path(source)
    if source.is_file() and source.suffix in (".h5", ".hdf5"):
        return read_hdf5_embeddings(source, class_labels=class_labels)
    if source.is_dir() and split is not None and (source / f"{split}.h5").is_file():
        return read_hdf5_embeddings(source / f"{split}.h5", class_labels=class_labels)
    if source.is_file():
        files = [source]
    elif source.is_dir():
        folder = source / split if split is not None else source
        files = sorted(folder.rglob("*.tfrecord"))
        packed = sorted(source.glob("*.h5")) if split is None else []
        if not files and packed:
            return concat_embeddings([read_hdf5_embeddings(f, class_labels=class_labels) for f in packed],
                                     name=source.name, description=f"AudioSet-format embeddings from {source}")
        if not files:
            raise FileNotFoundError(f"no .tfrecord files under {folder}" + ("" if split is None else f" (split {split!r})"))
    else:
        raise FileNotFoundError(f"embedding source {source} does not exist")
    if class_labels is None:
        for candidate in (files[0].parent, files[0].parent.parent, source if source.is_dir() else source.parent):
            if (candidate / "class_labels_indices.csv").is_file():
                class_labels = candidate / "class_labels_indices.csv"
                break
    labels = load_class_labels(class_labels)
    records, folds = [], []
    for f in files:
        recs = read_tfrecord_embeddings(f, check_crc=check_crc)
        records += recs
        folds += [f.parent.name] * len(recs)
    return EmbeddingSet.from_records(records, labels["display_name"].tolist(), class_ids=labels["mid"].tolist(),
                                     frames=frames, name=source.stem, folds=np.array(folds),
                                     description=f"AudioSet-format embeddings from {source}", where=str(source))


def concat_embeddings(parts: Sequence[EmbeddingSet], *, name: str | None = None,
                      description: str | None = None) -> EmbeddingSet:
    """Clips of several sets with the same classes, one set after the other."""
    if not parts:
        raise ValueError("concat_embeddings needs at least one set")
    first = parts[0]
    for p in parts[1:]:
        if p.classes != first.classes or p.x.shape[1:] != first.x.shape[1:]:
            raise ValueError(f"cannot concatenate {p.name} and {first.name}: different classes or frame shapes")
    folds = None if any(p.folds is None for p in parts) else np.concatenate([p.folds for p in parts])
    return EmbeddingSet(np.concatenate([p.x for p in parts]), np.concatenate([p.y for p in parts]),
                        sum((p.clip_ids for p in parts), []), list(first.classes), list(first.class_ids),
                        np.concatenate([p.n_frames for p in parts]), np.concatenate([p.start_time for p in parts]),
                        np.concatenate([p.end_time for p in parts]), folds, name or first.name,
                        description if description is not None else first.description, first.scheme)


def download_audioset_embeddings(root: str | Path | None = None, *, keep_archive: bool = False,
                                 progress: bool = True) -> Path:
    """Download the AudioSet "features" release and the label files into ``root`` (resumable).

    For users with internet access (about 2.4 GB). Afterwards ``root`` holds
    ``audioset_v1_embeddings/{bal_train,eval,unbal_train}/*.tfrecord``,
    ``class_labels_indices.csv`` and ``ontology.json`` and a ``.complete`` marker.

    >>> root = download_audioset_embeddings()                          # doctest: +SKIP
    >>> load_embeddings(root / "audioset_v1_embeddings", split="bal_train")  # doctest: +SKIP
    """
    import shutil

    from audiolib.data.download import download_file, extract_archive, file_digest, is_complete, mark_complete

    root = Path(root) if root is not None else paths.data_root() / "audioset"
    if is_complete(root):
        return root
    download_file(CLASS_LABELS_URL, root / "class_labels_indices.csv", progress=progress)
    download_file(ONTOLOGY_URL, root / "ontology.json", progress=progress)
    archive = download_file(FEATURES_URL, root / "features.tar.gz", progress=progress)
    extract_archive(archive, root)
    base = root / "audioset_v1_embeddings"
    counts = {s: len(list((base / s).glob("*.tfrecord"))) for s in SPLITS}
    if not all(counts.values()):
        raise RuntimeError(f"{archive} unpacked, but {base} lacks TFRecords for {[s for s, c in counts.items() if not c]}; "
                           f"delete {archive} and download again")
    labels = load_class_labels(root / "class_labels_indices.csv")
    if len(labels) != N_CLASSES:
        raise RuntimeError(f"{root / 'class_labels_indices.csv'} has {len(labels)} classes, expected {N_CLASSES}")
    mark_complete(root, {"dataset": "audioset_embeddings", "url": FEATURES_URL, "tfrecord_files": counts,
                         "archive_sha256": file_digest(archive)["sha256"]})
    if not keep_archive:
        archive.unlink()
    shutil.rmtree(root / ".extracting", ignore_errors=True)
    return root
