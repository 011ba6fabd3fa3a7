"""The cvmfs_server double's maintenance subcommands do to the bucket what cvmfs_server 2.12 does.

Each test runs ``tests/support/bin/cvmfs_server`` as a process against moto and reads the bucket
back: ``tag`` and ``rollback`` (cvmfs_server_tag.sh, cvmfs_server_rollback.sh, swissknife_history.cc),
``resign`` (cvmfs_server_resign.sh, create_whitelist), ``gc`` (cvmfs_server_gc.sh, swissknife_gc.cc),
``check`` (cvmfs_server_check.sh, swissknife_check.cc) and ``mkfs`` (cvmfs_server_mkfs.sh).
Where the real scripts hand text to a shell, so does the double: marker files prove what runs.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from cvmfs_operator.publisher import conffiles
from cvmfs_operator.publisher.paths import Layout
from tests.integration.publisher.harness import FQRN, Stratum0
from tests.integration.publisher.maintenance import (
    attach,
    catalog_entries,
    checksum_of,
    chksum,
    cvmfs_server,
    days_left,
    history,
    install_master_key,
    no_transaction,
    object_key,
    objects,
    publish,
    whitelist,
)
from tests.support.s3 import ACCESS_KEY, SECRET_KEY


# --- tag --------------------------------------------------------------------------------------------
def test_tag_add_records_the_description_and_resigns_the_same_revision(repo: Stratum0) -> None:
    history(repo)
    before = repo.manifest()
    done = cvmfs_server(repo, "tag", "-a", "stable", "-m", "the stable one", FQRN)
    assert done.returncode == 0, done.stderr
    after = repo.manifest()
    assert after["S"] == before["S"]
    assert after["C"] == before["C"]
    assert after["H"] != before["H"]
    stable = repo.tags()["stable"]
    assert (stable.hash, stable.revision, stable.description) == (before["C"], 5, "the stable one")
    assert chksum(repo) == hashlib.sha1(repo.get(".cvmfsreflog")).hexdigest() == after["Y"]
    assert no_transaction(repo)


def test_a_tag_description_runs_through_the_shell_inside_double_quotes(repo: Stratum0,
                                                                       tmp_path: Path) -> None:
    history(repo)
    marker = tmp_path / "marker"
    done = cvmfs_server(repo, "tag", "-a", "evil", "-m", f"x $(echo ran > {marker}; echo y)", FQRN)
    assert done.returncode == 0, done.stderr
    assert marker.read_text() == "ran\n"
    assert repo.tags()["evil"].description == "x y"  # stored after the shell's substitution


def test_reserved_and_existing_tag_names_are_refused_and_no_transaction_stays(repo: Stratum0) -> None:
    history(repo)
    tags = repo.tags()
    for name, message in (("trunk", "undo tags are managed internally"),
                          ("trunk-previous", "undo tags are managed internally"),
                          ("r4", "a tag with the name 'r4' already exists")):
        done = cvmfs_server(repo, "tag", "-a", name, FQRN)
        assert done.returncode == 1
        assert message in done.stderr
        assert no_transaction(repo)
    removed = cvmfs_server(repo, "tag", "-r", "trunk", "-f", FQRN)
    assert removed.returncode == 1
    assert "undo tags are handled internally and cannot be deleted" in removed.stderr
    assert "Did not remove anything" in removed.stderr
    assert repo.tags() == tags
    spaced = cvmfs_server(repo, "tag", "-a", "two words", FQRN)
    assert (spaced.returncode, "Spaces are not allowed in tag names" in spaced.stderr) == (1, True)


def test_tag_remove_asks_without_f_and_removes_with_it(repo: Stratum0) -> None:
    history(repo)
    asked = cvmfs_server(repo, "tag", "-r", "r4", FQRN)  # no answer on stdin: "no"
    assert asked.returncode == 1
    assert "* r4" in asked.stdout
    assert "r4" in repo.tags()
    done = cvmfs_server(repo, "tag", "-r", "r4", "-f", FQRN)
    assert done.returncode == 0, done.stderr
    assert "r4" not in repo.tags()
    assert "r5" in repo.tags()
    missing = cvmfs_server(repo, "tag", "-r", "nope", "-f", FQRN)
    assert missing.returncode == 1
    assert "tag 'nope' does not exist" in missing.stderr


def test_tag_inspect_and_list_need_no_transaction(repo: Stratum0) -> None:
    history(repo)
    info = cvmfs_server(repo, "tag", "-i", "r4", "-x", FQRN)
    assert info.returncode == 0, info.stderr
    name, digest, _size, revision, *_ = info.stdout.split()
    assert (name, digest, revision) == ("r4", repo.tags()["r4"].hash, "4")
    listing = cvmfs_server(repo, "tag", "-l", "-x", FQRN)
    assert {line.split()[0] for line in listing.stdout.splitlines()} == set(repo.tags())


# --- rollback ---------------------------------------------------------------------------------------
def test_rollback_republishes_the_tagged_catalog_as_a_new_revision(repo: Stratum0) -> None:
    history(repo)
    before = repo.tags()
    done = cvmfs_server(repo, "rollback", "-t", "r4", "-f", FQRN)
    assert done.returncode == 0, done.stderr
    manifest = repo.manifest()
    assert manifest["S"] == "6"
    old_entries = catalog_entries(repo, before["r4"].hash)["entries"]
    assert catalog_entries(repo, manifest["C"])["entries"] == old_entries
    assert repo.published_tree()["sw/b"] == b"b1"
    assert "sw/c" not in repo.published_tree()
    tags = repo.tags()
    # ROLLBACK_COND: revision > 4 or the target; the target re-inserted at the new revision
    assert "r5" not in tags
    assert "trunk-previous" not in tags
    assert (tags["r4"].revision, tags["r4"].hash) == (6, manifest["C"])
    assert (tags["trunk"].revision, tags["trunk"].hash) == (6, manifest["C"])
    assert "removed tag r5" in done.stdout
    assert (repo.union / "sw" / "b").read_bytes() == b"b1"
    assert no_transaction(repo)
    assert chksum(repo) == manifest["Y"]


def test_rollback_to_a_missing_tag_or_without_f_changes_nothing(repo: Stratum0) -> None:
    history(repo)
    missing = cvmfs_server(repo, "rollback", "-t", "nope", "-f", FQRN)
    assert missing.returncode == 1
    assert "Target tag 'nope' does not exist" in missing.stderr
    unanswered = cvmfs_server(repo, "rollback", "-t", "r4", FQRN)
    assert unanswered.returncode == 1
    assert repo.manifest()["S"] == "5"
    assert no_transaction(repo)


def test_undo_rollback_goes_to_trunk_previous_once(repo: Stratum0) -> None:
    history(repo)
    done = cvmfs_server(repo, "rollback", "-f", FQRN)
    assert done.returncode == 0, done.stderr
    assert repo.published_tree()["sw/b"] == b"b1"
    again = cvmfs_server(repo, "rollback", "-f", FQRN)
    assert again.returncode == 1
    assert "More than one anonymous undo rollback is not supported" in again.stderr


# --- resign -----------------------------------------------------------------------------------------
def test_resign_writes_a_whitelist_with_the_new_expiry(repo: Stratum0) -> None:
    repo.seed({"sw/a": b"a"}, whitelist_days=2)
    attach(repo)
    install_master_key(repo)
    done = cvmfs_server(repo, "resign", "-d", "7", FQRN)
    assert done.returncode == 0, done.stderr
    assert "Signing 7 day whitelist with master key... done" in done.stdout
    listed = whitelist(repo)
    assert 6.9 < days_left(listed) <= 7.0
    assert listed.name == FQRN
    crt = repo.host("/etc/cvmfs/keys") / f"{FQRN}.crt"
    assert len(listed.fingerprints) == 1
    assert listed.fingerprints[0].count(":") == 19
    assert crt.exists()
    default = cvmfs_server(repo, "resign", FQRN)
    assert default.returncode == 0
    assert 29.9 < days_left(whitelist(repo)) <= 30.0


def test_resign_without_the_master_key_fails_and_keeps_the_whitelist(repo: Stratum0) -> None:
    repo.seed({"sw/a": b"a"}, whitelist_days=2)
    attach(repo)
    before = repo.get(".cvmfswhitelist")
    done = cvmfs_server(repo, "resign", FQRN)
    assert done.returncode == 1
    assert "Neither masterkey nor masterkeycard is available to sign whitelist!" in done.stderr
    assert repo.get(".cvmfswhitelist") == before
    long = cvmfs_server(repo, "resign", "-d", "60", FQRN)  # asks; no answer is "no"
    assert long.returncode == 1
    assert "more than 30 days" in long.stdout


# --- gc -----------------------------------------------------------------------------------------------
def test_gc_removes_what_only_unpreserved_revisions_reference(repo: Stratum0) -> None:
    history(repo, gc=True)
    publish(repo, {"sw/d": b"d"}, "r6")  # trunk-previous (a tag, so preserved) moves to revision 5
    manifest = repo.manifest()
    assert manifest["G"] == "yes"
    tags = repo.tags()
    cvmfs_server(repo, "tag", "-r", "r4", "-f", FQRN)  # revision 4 is now only history
    b1 = catalog_entries(repo, tags["r4"].hash)["entries"]["sw/b"]["hash"]
    before = objects(repo)
    assert object_key(b1) in before
    done = cvmfs_server(repo, "gc", "-r", "0", "-f", "-l", FQRN)
    assert done.returncode == 0, done.stdout + done.stderr
    after = objects(repo)
    assert object_key(b1) not in after  # only revision 4 had sw/b = b1
    assert object_key(tags["r4"].hash, "C") not in after
    assert object_key(repo.manifest()["C"], "C") in after
    assert f"Sweep: {b1}" in done.stdout
    seeded = tags["r5"]
    assert object_key(seeded.hash, "C") in after  # tagged: preserved
    assert chksum(repo) == hashlib.sha1(repo.get(".cvmfsreflog")).hexdigest()
    assert repo.manifest()["Y"] != chksum(repo)  # gc re-hashes the reflog, never the manifest
    assert no_transaction(repo)


def test_gc_dry_run_deletes_nothing(repo: Stratum0) -> None:
    history(repo, gc=True)
    cvmfs_server(repo, "tag", "-r", "r4", "-f", FQRN)
    before = objects(repo), repo.get(".cvmfsreflog")
    done = cvmfs_server(repo, "gc", "-r", "0", "-d", "-l", "-f", FQRN)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Sweep: " in done.stdout
    assert (objects(repo), repo.get(".cvmfsreflog")) == before


def test_gc_is_refused_where_garbage_collection_is_off(repo: Stratum0) -> None:
    history(repo, gc=False)
    done = cvmfs_server(repo, "gc", "-r", "0", "-f", FQRN)
    assert done.returncode == 1
    assert f"Garbage Collection is not enabled for {FQRN}" in done.stderr


def test_gc_is_refused_when_the_manifest_is_not_collectable(repo: Stratum0) -> None:
    repo.seed({"sw/a": b"a"})  # the seed's manifest says G no
    attach(repo, gc=True)
    done = cvmfs_server(repo, "gc", "-r", "0", "-f", FQRN)
    assert done.returncode == 1
    assert "repository does not allow garbage collection" in done.stderr
    assert "Fail (6)!" in done.stderr
    assert no_transaction(repo)


def test_gc_needs_the_reflog_checksum(repo: Stratum0) -> None:
    history(repo, gc=True)
    (repo.spool / "reflog.chksum").unlink()
    done = cvmfs_server(repo, "gc", "-r", "0", "-f", FQRN)
    assert done.returncode == 1
    assert "Could not read reflog checksum" in done.stderr


# --- check ------------------------------------------------------------------------------------------
def test_check_passes_and_then_finds_a_missing_object(repo: Stratum0) -> None:
    history(repo)
    done = cvmfs_server(repo, "check", FQRN)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no problems found" in done.stdout
    digest = catalog_entries(repo, repo.manifest()["C"])["entries"]["sw/c"]["hash"]
    repo.s3.client().delete_object(Bucket=repo.bucket, Key=f"{repo.prefix}/data/{object_key(digest)}")
    broken = cvmfs_server(repo, "check", FQRN)
    assert broken.returncode == 1
    assert f"data chunk {digest} (/sw/c) missing" in broken.stderr
    assert "CATALOG PROBLEMS OR OTHER ERRORS FOUND" in broken.stderr
    skipped = cvmfs_server(repo, "check", "-c", FQRN)  # -c: no data-object check
    assert skipped.returncode == 0


def test_check_r_repairs_the_reflog_checksum(repo: Stratum0) -> None:
    history(repo)
    (repo.spool / "reflog.chksum").write_text("0" * 40)
    stale = cvmfs_server(repo, "check", FQRN)
    assert stale.returncode == 1
    assert "The .cvmfsreflog has unexpected content hash" in stale.stderr
    repaired = cvmfs_server(repo, "check", "-r", FQRN)
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "Warning: restored reflog checksum" in repaired.stdout
    assert chksum(repo) == checksum_of(repo)


def test_the_check_tag_is_spliced_unquoted_into_sh_c(repo: Stratum0, tmp_path: Path) -> None:
    history(repo)
    marker = tmp_path / "marker"
    done = cvmfs_server(repo, "check", "-t", f"r4; touch {marker}; true", FQRN)
    assert marker.exists()  # `check -n r4; touch …` ran the second command
    assert done.returncode == 0


# --- mkfs ---------------------------------------------------------------------------------------------
def _mkfs_inputs(repo: Stratum0) -> list[str]:
    """Keys in /etc/cvmfs/keys (as the pod installs them) and the S3 config; the mkfs arguments."""
    repo.mount_secrets()
    keys = repo.host("/etc/cvmfs/keys")
    keys.mkdir(parents=True, exist_ok=True)
    for source in repo.host("/run/cvmfs/keys").iterdir():
        (keys / source.name).write_bytes(source.read_bytes())
    install_master_key(repo)
    config = repo.config({"remove": {"paths": ["x"]}})
    s3_conf = repo.host(Layout(root=repo.root, fqrn=FQRN, result_path=repo.result_path).s3_config)
    s3_conf.parent.mkdir(parents=True, exist_ok=True)
    s3_conf.write_text(conffiles.s3_conf(config["s3"], conffiles.S3Credentials(ACCESS_KEY, SECRET_KEY)))
    s3_conf.chmod(0o600)
    upstream = f"S3,/var/spool/cvmfs/{FQRN}/tmp,{repo.prefix}@/etc/cvmfs/s3/{FQRN}.conf"
    return ["mkfs", "-u", upstream, "-w", config["stratum0Url"], "-o", "root", "-k", "/etc/cvmfs/keys", "-p"]


def test_mkfs_writes_the_first_revision(repo: Stratum0) -> None:
    done = cvmfs_server(repo, *_mkfs_inputs(repo), "-z", FQRN)
    assert done.returncode == 0, done.stdout + done.stderr
    manifest = repo.manifest()
    assert (manifest["S"], manifest["G"], manifest["N"]) == ("1", "yes", FQRN)
    assert repo.published_tree() == {"new_repository": f"New CernVM-FS repository for {FQRN}\n".encode()}
    assert set(repo.tags()) == {"trunk", *(n for n in repo.tags() if n.startswith("generic-"))}
    assert len(repo.tags()) == 2
    assert 29.9 < days_left(whitelist(repo)) <= 30.0
    assert chksum(repo) == hashlib.sha1(repo.get(".cvmfsreflog")).hexdigest() == manifest["Y"]
    assert repo.get(".cvmfs_master_replica")
    assert "CVMFS_GARBAGE_COLLECTION=true" in (repo.host(f"/etc/cvmfs/repositories.d/{FQRN}") / "server.conf"
                                             ).read_text()


def test_mkfs_overwrites_an_existing_repository_in_the_bucket(repo: Stratum0) -> None:
    repo.seed({"sw/a": b"a"}, revision=41)
    done = cvmfs_server(repo, *_mkfs_inputs(repo), FQRN)
    assert done.returncode == 0, done.stdout + done.stderr
    assert repo.manifest()["S"] == "1"  # revision 41 is gone: mkfs never looked
    assert "sw/a" not in repo.published_tree()


def test_mkfs_refuses_a_locally_configured_repository_and_a_missing_master_key(repo: Stratum0) -> None:
    arguments = _mkfs_inputs(repo)
    (repo.host("/etc/cvmfs/keys") / f"{FQRN}.masterkey").unlink()
    no_key = cvmfs_server(repo, *arguments, FQRN)
    assert no_key.returncode == 1
    assert "fail!" in no_key.stderr
    repo.host(f"/etc/cvmfs/repositories.d/{FQRN}").mkdir(parents=True, exist_ok=True)
    again = cvmfs_server(repo, *arguments, FQRN)
    assert again.returncode == 1
    assert f"The repository {FQRN} already exists" in again.stderr


def test_a_double_quote_in_a_tag_description_leaves_the_quotes(repo: Stratum0, tmp_path: Path) -> None:
    history(repo)
    marker = tmp_path / "marker"
    done = cvmfs_server(repo, "tag", "-a", "evil", "-m", f'x" ; touch {marker} ; echo "', FQRN)
    assert marker.exists()  # `-D "x" ; touch … ; echo ""`: the tag_edit ends at the quote
    assert done.returncode == 0, done.stderr
    assert repo.tags()["evil"].description == "x"
