"""AudioSet embedding formats: CRC32C, protobuf wire bytes, TFRecord framing, HDF5, class labels."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from audiolib.data import audioset as A


# --- CRC32C against published check values (RFC 3720 appendix B.4 and the CRC catalogue) ----
@pytest.mark.parametrize("data, expected", [
    (b"123456789", 0xE3069283),            # the catalogue's check value for CRC-32C
    (b"", 0x00000000),
    (bytes(32), 0x8A9136AA),               # RFC 3720 B.4: 32 bytes of zeros
    (b"\xff" * 32, 0x62A8AB43),            # RFC 3720 B.4: 32 bytes of ones
    (bytes(range(32)), 0x46DD794E),        # RFC 3720 B.4: incrementing
    (bytes(range(31, -1, -1)), 0x113FDB5C),  # RFC 3720 B.4: decrementing
])
def test_crc32c_known_vectors(data, expected):
    assert A.crc32c(data) == expected
    assert A._crc32c_python(data) == expected  # the table-driven code itself, whatever is installed


def test_masked_crc_matches_tfrecord_definition():
    crc = A.crc32c(b"abc")
    rotated = ((crc >> 15) | (crc << 17)) & 0xFFFFFFFF
    assert A.masked_crc32c(b"abc") == (rotated + 0xA282EAD8) & 0xFFFFFFFF


# --- protobuf bytes written by hand from the encoding spec ----------------------------------
def test_feature_encoding_hand_computed():
    # Feature{int64_list{value: [1, 300]}}: field 3 (0x1a), len 5; Int64List field 1 packed (0x0a), len 3; 01 ac02
    assert A._encode_feature("int64", [1, 300]) == bytes([0x1A, 0x05, 0x0A, 0x03, 0x01, 0xAC, 0x02])
    # Feature{bytes_list{value: [b"ab"]}}: 0x0a len 4; BytesList 0x0a len 2 'ab'
    assert A._encode_feature("bytes", [b"ab"]) == bytes([0x0A, 0x04, 0x0A, 0x02]) + b"ab"
    # Feature{float_list{value: [1.0]}}: 0x12 len 6; FloatList 0x0a len 4 then IEEE 754 LE
    assert A._encode_feature("float", [1.0]) == bytes([0x12, 0x06, 0x0A, 0x04]) + struct.pack("<f", 1.0)


def test_unpacked_and_negative_values_decode():
    # unpacked int64 (wire type 0) and unpacked float (wire type 5), as older writers emit
    int_list = bytes([0x08, 0x05, 0x08]) + A._varint(-2)
    feature = bytes([0x1A, len(int_list)]) + int_list
    assert A._decode_feature(feature) == ("int64", [5, -2])
    float_list = bytes([0x0D]) + struct.pack("<f", 2.5)
    assert A._decode_feature(bytes([0x12, len(float_list)]) + float_list) == ("float", [2.5])


def test_sequence_example_round_trip_with_unknown_field():
    ctx = {"video_id": ("bytes", [b"vid"]), "labels": ("int64", [0, 7, 526]), "start_time_seconds": ("float", [30.0])}
    lists = {"audio_embedding": ("bytes", [[bytes([i]) * 128] for i in range(3)])}
    data = A.encode_sequence_example(ctx, lists) + A._len_field(9, b"ignored")  # unknown field 9
    context, feature_lists = A.decode_sequence_example(data)
    assert context["video_id"] == ("bytes", [b"vid"])
    assert context["labels"] == ("int64", [0, 7, 526])
    assert context["start_time_seconds"] == ("float", [30.0])
    assert [v for _, v in feature_lists["audio_embedding"]] == [[bytes([i]) * 128] for i in range(3)]


# --- TFRecord files ------------------------------------------------------------------------------
def _records(n=5, seed=0):
    rng = np.random.default_rng(seed)
    return [A.EmbeddingRecord(f"vid{i:03d}", 10.0 * i, 10.0 * i + 10, tuple(sorted(rng.choice(527, 2, replace=False))),
                              rng.integers(0, 256, (10 - i % 3, 128), dtype=np.uint8)) for i in range(n)]


def test_tfrecord_framing_layout(tmp_path):
    path = A.write_tfrecord(tmp_path / "x.tfrecord", [b"hello", b""])
    raw = path.read_bytes()
    assert struct.unpack("<Q", raw[:8])[0] == 5
    assert struct.unpack("<I", raw[8:12])[0] == A.masked_crc32c(raw[:8])
    assert raw[12:17] == b"hello"
    assert struct.unpack("<I", raw[17:21])[0] == A.masked_crc32c(b"hello")
    assert list(A.read_tfrecord(path)) == [b"hello", b""]


def test_embedding_tfrecord_round_trip(tmp_path):
    records = _records()
    path = A.write_tfrecord_embeddings(tmp_path / "bal_train" / "00.tfrecord", records)
    back = A.read_tfrecord_embeddings(path)
    assert len(back) == len(records)
    for a, b in zip(records, back):
        assert (a.video_id, a.labels, a.start_time_seconds, a.end_time_seconds) == \
               (b.video_id, b.labels, b.start_time_seconds, b.end_time_seconds)
        np.testing.assert_array_equal(a.embedding, b.embedding)


def test_corrupt_record_names_file_and_record(tmp_path):
    path = A.write_tfrecord_embeddings(tmp_path / "c.tfrecord", _records(4))
    raw = bytearray(path.read_bytes())
    # find the start of record 2 and flip one byte inside its data
    offset = 0
    for _ in range(2):
        length = struct.unpack("<Q", raw[offset:offset + 8])[0]
        offset += 12 + length + 4
    raw[offset + 12 + 40] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(A.AudioSetFormatError, match=r"c\.tfrecord: record 2 .*data CRC mismatch"):
        A.read_tfrecord_embeddings(path)
    # a flipped length byte is caught by the length CRC
    raw = bytearray(A.write_tfrecord_embeddings(tmp_path / "d.tfrecord", _records(2)).read_bytes())
    raw[1] ^= 0x01
    (tmp_path / "d.tfrecord").write_bytes(bytes(raw))
    with pytest.raises(A.AudioSetFormatError, match=r"d\.tfrecord: record 0 .*length CRC"):
        list(A.read_tfrecord(tmp_path / "d.tfrecord"))


def test_truncated_file_and_bad_embedding_size(tmp_path):
    path = A.write_tfrecord_embeddings(tmp_path / "t.tfrecord", _records(3))
    raw = path.read_bytes()
    path.write_bytes(raw[:-10])
    with pytest.raises(A.AudioSetFormatError, match=r"t\.tfrecord: record 2 .*truncated"):
        A.read_tfrecord_embeddings(path)
    bad = A.encode_sequence_example({"video_id": ("bytes", [b"v"]), "labels": ("int64", [1])},
                                    {"audio_embedding": ("bytes", [[bytes(127)]])})
    A.write_tfrecord(tmp_path / "b.tfrecord", [bad])
    with pytest.raises(A.AudioSetFormatError, match=r"b\.tfrecord: record 0.*step 0 is not one 128-byte"):
        A.read_tfrecord_embeddings(tmp_path / "b.tfrecord")


# --- EmbeddingSet, HDF5 and folders ------------------------------------------------------------
def _labels_csv(tmp_path, n=527):
    return A.write_class_labels(tmp_path / "class_labels_indices.csv", [f"/m/{i}" for i in range(n)],
                                [f"class {i}" for i in range(n)])


def test_from_records_pads_and_crops():
    recs = [A.EmbeddingRecord("a", 0, 7, (1,), np.full((7, 128), 3, np.uint8)),
            A.EmbeddingRecord("b", 0, 12, (0, 2), np.full((12, 128), 9, np.uint8))]
    data = A.EmbeddingSet.from_records(recs, ["x", "y", "z"])
    assert data.x.shape == (2, 10, 128)
    assert (data.x[0, :7] == 3).all() and (data.x[0, 7:] == A.PAD_BYTE).all()
    assert (data.x[1] == 9).all()
    assert data.n_frames.tolist() == [7, 12]
    assert data.y.tolist() == [[False, True, False], [True, False, True]]
    x, y = data.get_batch([1, 0])
    assert x.shape == (2, 10, 128) and x.dtype.is_floating_point and y.tolist()[0] == [1.0, 0.0, 1.0]
    with pytest.raises(A.AudioSetFormatError, match="label index 5 outside 0..2"):
        A.EmbeddingSet.from_records([A.EmbeddingRecord("c", 0, 1, (5,), np.zeros((1, 128), np.uint8))], ["x", "y", "z"])


def test_hdf5_published_layout_round_trip(tmp_path):
    import h5py

    data = A.EmbeddingSet.from_records(_records(6), [f"class {i}" for i in range(527)],
                                       class_ids=[f"/m/{i}" for i in range(527)])
    path = A.write_hdf5_embeddings(tmp_path / "bal_train.h5", data)
    with h5py.File(path, "r") as hf:  # the layout of the packed "audioset classification" files
        assert hf["x"].dtype == np.uint8 and hf["x"].shape == (6, 10, 128)
        assert hf["y"].dtype == bool and hf["y"].shape == (6, 527)
        assert hf["video_id_list"][0] == b"vid000"
    back = A.read_hdf5_embeddings(path)
    np.testing.assert_array_equal(back.x, data.x)
    np.testing.assert_array_equal(back.y, data.y)
    assert back.clip_ids == data.clip_ids and back.classes == data.classes
    assert back.n_frames.tolist() == data.n_frames.tolist()


def test_hdf5_without_class_attributes_uses_label_file(tmp_path):
    import h5py

    labels = _labels_csv(tmp_path, n=4)
    with h5py.File(tmp_path / "eval.h5", "w") as hf:  # as a third-party packer writes it
        hf["x"] = np.zeros((2, 10, 128), np.uint8)
        hf["y"] = np.array([[1, 0, 0, 1], [0, 1, 0, 0]], bool)
        hf["video_id_list"] = np.array([b"aaa", b"bbb"])
    data = A.read_hdf5_embeddings(tmp_path / "eval.h5", class_labels=labels)
    assert data.classes == ["class 0", "class 1", "class 2", "class 3"]
    assert data.n_frames.tolist() == [10, 10]
    with h5py.File(tmp_path / "bad.h5", "w") as hf:
        hf["x"] = np.zeros((2, 10, 128), np.uint8)
    with pytest.raises(A.AudioSetFormatError, match=r"bad\.h5: missing dataset\(s\) \['y', 'video_id_list'\]"):
        A.read_hdf5_embeddings(tmp_path / "bad.h5")


def test_load_embeddings_release_layout(tmp_path):
    _labels_csv(tmp_path)
    recs = _records(6)
    A.write_tfrecord_embeddings(tmp_path / "bal_train" / "a.tfrecord", recs[:3])
    A.write_tfrecord_embeddings(tmp_path / "eval" / "b.tfrecord", recs[3:])
    everything = A.load_embeddings(tmp_path)
    assert len(everything) == 6 and sorted(set(everything.folds)) == ["bal_train", "eval"]
    evaluation = A.load_embeddings(tmp_path, split="eval")
    assert evaluation.clip_ids == ["vid003", "vid004", "vid005"]
    assert evaluation.class_ids[:2] == ["/m/0", "/m/1"]
    with pytest.raises(FileNotFoundError, match="unbal_train"):
        A.load_embeddings(tmp_path, split="unbal_train")


def test_dequantize_schemes():
    q = np.array([0, 128, 255], np.uint8)
    # YouTube-8M's Dequantize: x * range / 255 + range / 512 + min
    np.testing.assert_allclose(A.dequantize(q), [-2 + 4 / 512, 128 * 4 / 255 + 4 / 512 - 2, 2 + 4 / 512],
                               rtol=0, atol=1e-6)
    np.testing.assert_allclose(A.dequantize(q, "centered"), [-1.0, 0.0, 127 / 128], rtol=0, atol=1e-7)
    with pytest.raises(ValueError, match="uint8"):
        A.dequantize(np.zeros(3))


# --- the real AudioSet label files (shared subset) ----------------------------------------------
def test_real_class_labels_and_ontology(shared_data):
    labels = A.load_class_labels(shared_data / "audioset" / "class_labels_indices.csv")
    assert len(labels) == A.N_CLASSES
    assert labels.loc[0, "display_name"] == "Speech" and labels.loc[0, "mid"] == "/m/09x0r"
    ontology = A.load_ontology(shared_data / "audioset" / "ontology.json")
    assert len(ontology) == 632
    assert set(labels["mid"]) <= set(ontology)
    speech = ontology["/m/09x0r"]
    assert speech["name"] == "Speech" and speech["parents"]  # Speech sits under Human voice


def test_load_embeddings_folder_of_packed_files(tmp_path):
    classes = [f"class {i}" for i in range(527)]
    recs = _records(5)
    A.write_hdf5_embeddings(tmp_path / "bal_train.h5", A.EmbeddingSet.from_records(recs[:2], classes))
    A.write_hdf5_embeddings(tmp_path / "eval.h5", A.EmbeddingSet.from_records(recs[2:], classes))
    both = A.load_embeddings(tmp_path)
    assert both.clip_ids == [r.video_id for r in recs] and both.x.shape == (5, 10, 128)
    assert A.load_embeddings(tmp_path, split="eval").clip_ids == ["vid002", "vid003", "vid004"]
    with pytest.raises(ValueError, match="different classes"):
        A.concat_embeddings([both, both.select_classes([0, 1])])
