"""The landing zone on a real folder: rotation, sealing, and the start-up repair of torn tails."""

from __future__ import annotations

from collector.landing import LandingZone, partition_key, recover, sealed_files

KEY = partition_key(1_764_410_400_000)  # 2025-11-29T10:00:00Z


def test_partition_key_is_utc_arrival_day_and_hour():
    assert KEY == "received_date=2025-11-29/hour=10"
    assert partition_key(1_764_460_799_999) == "received_date=2025-11-29/hour=23"


def test_rotation_by_size_and_sealing(tmp_path):
    zone = LandingZone(tmp_path, max_file_bytes=10)
    zone.append(KEY, b"aaaa\n")
    zone.append(KEY, b"bbbb\n")
    zone.append(KEY, b"cccc\n")  # would pass 10 bytes: the first file is sealed first
    assert [p.read_bytes() for p in sealed_files(tmp_path)] == [b"aaaa\nbbbb\n"]
    zone.seal_all()
    assert [p.read_bytes() for p in sealed_files(tmp_path)] == [b"aaaa\nbbbb\n", b"cccc\n"]
    assert not list(tmp_path.rglob("*.open"))


def test_rotation_by_age(tmp_path):
    zone = LandingZone(tmp_path, max_file_age_seconds=60)
    zone.append(KEY, b"x\n")
    opened_at = zone._open[KEY].opened_at
    assert zone.seal_expired(now=opened_at + 59) == []
    (sealed,) = zone.seal_expired(now=opened_at + 60)
    assert sealed.read_bytes() == b"x\n" and sealed.name.endswith(".ndjson")


def test_recover_cuts_torn_tail_and_seals(tmp_path):
    folder = tmp_path / KEY
    folder.mkdir(parents=True)
    (folder / "part-a.ndjson.open").write_bytes(b'{"a":1}\n{"b":2}\n{"c":')
    (folder / "part-b.ndjson.open").write_bytes(b'{"torn only')
    (folder / "part-c.ndjson.open").write_bytes(b"")
    report = recover(tmp_path)
    assert report.sealed == 1 and report.torn_bytes_removed == len(b'{"c":') + len(b'{"torn only')
    assert [p.name for p in sealed_files(tmp_path)] == ["part-a.ndjson"]
    assert (folder / "part-a.ndjson").read_bytes() == b'{"a":1}\n{"b":2}\n'
    assert sorted(p.name for p in folder.iterdir()) == ["part-a.ndjson"]
    assert recover(tmp_path).sealed == 0  # idempotent


def test_failed_append_is_cut_back(tmp_path):
    zone = LandingZone(tmp_path)
    zone.append(KEY, b"good\n")
    current = zone._open[KEY]
    import os

    os.close(current.fd)  # the next write fails with EBADF, as a dying disk would
    current.fd = os.open(tmp_path / "elsewhere", os.O_RDONLY | os.O_CREAT)
    try:
        zone.append(KEY, b"lost\n")
    except OSError:
        pass
    else:
        raise AssertionError("append on a read-only descriptor must fail")
    assert [p.read_bytes() for p in sealed_files(tmp_path)] == [b"good\n"]
    zone.append(KEY, b"next\n")
    zone.seal_all()
    assert sorted(p.read_bytes() for p in sealed_files(tmp_path)) == [b"good\n", b"next\n"]
