#!/usr/bin/env bash
# Builds the fixture images as OCI image-layout archives (oci-archive), with no
# registry pulls and byte-identical output on every run:
#
#   OUTDIR/busybox.tar          docker.io/library/busybox:latest, one layer
#   OUTDIR/hello-world-v1.tar   docker.io/library/hello-world:v1, the walkthrough
#                               image: the same busybox layer (identical blob),
#                               a layer adding an empty /hello.txt, and a layer
#                               replacing it with "this is an update to the hello.txt"
#   OUTDIR/busybox-rootfs.tar   the busybox layer uncompressed (for `import` tests)
#
# Usage: rootfs-fixtures/build.sh OUTDIR
# Needs: GNU tar (--sort), gzip, sha256sum, jq, a static busybox (BUSYBOX, default /bin/busybox).
# Does not need root: ownership comes from tar's --owner/--group, never from chown.
set -euo pipefail

if [[ $# -ne 1 || -z "$1" ]]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
OUTDIR=$1
BUSYBOX=${BUSYBOX:-/bin/busybox}

for tool in tar gzip sha256sum jq; do
  command -v "$tool" >/dev/null || { echo "$0: $tool is required" >&2; exit 1; }
done
[[ -x "$BUSYBOX" ]] || { echo "$0: $BUSYBOX is not an executable busybox" >&2; exit 1; }

umask 022
export LC_ALL=C TZ=UTC

# Fixed timestamps, so digests never change: the busybox base is dated like the
# walkthrough's alpine base layer, the hello.txt layers like its hello.txt.
BASE_EPOCH=1691590620          # 2023-08-09T14:17:00Z
BASE_CREATED=2023-08-09T14:17:00Z
HELLO_EPOCH=1697453640         # 2023-10-16T10:54:00Z
HELLO_CREATED=2023-10-16T10:54:00Z
UPDATE_EPOCH=1697453700        # 2023-10-16T10:55:00Z
UPDATE_CREATED=2023-10-16T10:55:00Z

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tsrun-fixtures.XXXXXX")
trap 'rm -rf -- "$WORK"' EXIT

mkdir -p -- "$OUTDIR"

# tar options shared by every layer: ustar (no atime/ctime PAX records), names
# sorted, numeric ids only.
TAR_COMMON=(--format=ustar --numeric-owner --no-recursion --null -T -)

sha256_of() { sha256sum -- "$1" | cut -d' ' -f1; }
size_of() { stat -c %s -- "$1"; }

# --- the busybox root filesystem -------------------------------------------------
ROOTFS=$WORK/rootfs
mkdir -p "$ROOTFS"/{bin,sbin,usr/bin,usr/sbin,etc,dev,proc,sys,var,home/app,root,tmp}
chmod 0700 "$ROOTFS/root"
chmod 1777 "$ROOTFS/tmp"
cp -- "$BUSYBOX" "$ROOTFS/bin/busybox"
chmod 0755 "$ROOTFS/bin/busybox"

while IFS= read -r applet; do
  [[ -n "$applet" && "$applet" != bin/busybox ]] || continue
  mkdir -p -- "$ROOTFS/$(dirname -- "$applet")"
  ln -s /bin/busybox "$ROOTFS/$applet"
done < <("$BUSYBOX" --list-full)

cat >"$ROOTFS/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
app:x:1000:1000:app:/home/app:/bin/sh
EOF
cat >"$ROOTFS/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
app:x:1000:
EOF
chmod 0644 "$ROOTFS/etc/passwd" "$ROOTFS/etc/group"

# Every entry is owned by 0:0 except /home/app (1000:1000). GNU tar has no
# per-file owner override, so the layer is written in three sorted parts and
# concatenated; no chown, hence no root needed.
(cd "$ROOTFS" && find . -mindepth 1 -printf '%P\n' | sort) >"$WORK/list"
awk '$0 < "home/app"' "$WORK/list" | tr '\n' '\0' >"$WORK/list.1"
awk '$0 > "home/app"' "$WORK/list" | tr '\n' '\0' >"$WORK/list.3"
BASE_LAYER=$WORK/busybox-layer.tar
tar -C "$ROOTFS" -cf "$BASE_LAYER" --owner=0 --group=0 --mtime=@$BASE_EPOCH "${TAR_COMMON[@]}" <"$WORK/list.1"
printf 'home/app\0' | tar -C "$ROOTFS" -cf "$WORK/part2.tar" --owner=1000 --group=1000 --mtime=@$BASE_EPOCH "${TAR_COMMON[@]}"
tar -C "$ROOTFS" -cf "$WORK/part3.tar" --owner=0 --group=0 --mtime=@$BASE_EPOCH "${TAR_COMMON[@]}" <"$WORK/list.3"
tar -Af "$BASE_LAYER" "$WORK/part2.tar"
tar -Af "$BASE_LAYER" "$WORK/part3.tar"

# --- the hello.txt layers ------------------------------------------------------------
mkdir -p "$WORK/hello-empty" "$WORK/hello-update"
: >"$WORK/hello-empty/hello.txt"
printf 'this is an update to the hello.txt\n' >"$WORK/hello-update/hello.txt"
chmod 0644 "$WORK/hello-empty/hello.txt" "$WORK/hello-update/hello.txt"
printf 'hello.txt\0' | tar -C "$WORK/hello-empty" -cf "$WORK/hello-empty.tar" \
  --owner=0 --group=0 --mtime=@$HELLO_EPOCH "${TAR_COMMON[@]}"
printf 'hello.txt\0' | tar -C "$WORK/hello-update" -cf "$WORK/hello-update.tar" \
  --owner=0 --group=0 --mtime=@$UPDATE_EPOCH "${TAR_COMMON[@]}"

# --- blobs -----------------------------------------------------------------------------
BLOBS=$WORK/blobs
mkdir -p "$BLOBS"

# add_blob FILE: moves FILE into the blob pool; prints its digest hex.
add_blob() {
  local hex
  hex=$(sha256_of "$1")
  mv -f -- "$1" "$BLOBS/$hex"
  printf '%s\n' "$hex"
}

# gzip_layer TAR: prints "DIFF_ID_HEX BLOB_HEX BLOB_SIZE"; the tar itself is kept.
gzip_layer() {
  local diff gz hex
  diff=$(sha256_of "$1")
  gz=$WORK/$(basename -- "$1").gz
  gzip -n -6 -c -- "$1" >"$gz"
  hex=$(add_blob "$gz")
  printf '%s %s %s\n' "$diff" "$hex" "$(size_of "$BLOBS/$hex")"
}

read -r BASE_DIFF BASE_BLOB BASE_SIZE < <(gzip_layer "$BASE_LAYER")
read -r HELLO_DIFF HELLO_BLOB HELLO_SIZE < <(gzip_layer "$WORK/hello-empty.tar")
read -r UPDATE_DIFF UPDATE_BLOB UPDATE_SIZE < <(gzip_layer "$WORK/hello-update.tar")

LAYER_MT=application/vnd.oci.image.layer.v1.tar+gzip
PATH_ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# write_json FILE JQ-PROGRAM [jq args...]: compact, key order as written.
write_json() {
  local file=$1 prog=$2
  shift 2
  jq -cnj "$@" "$prog" >"$file"
}

# build_image OUT NAME REF CREATED LAYERS_JSON DIFF_IDS_JSON HISTORY_JSON
build_image() {
  local out=$1 name=$2 ref=$3 created=$4 layers=$5 diffids=$6 history=$7
  local config_hex config_size manifest_hex manifest_size layout
  write_json "$WORK/config.json" '{
      created: $created, architecture: "amd64", os: "linux",
      config: {Env: [$path], Cmd: ["sh"]},
      rootfs: {type: "layers", diff_ids: $diffids},
      history: $history
    }' --arg created "$created" --arg path "$PATH_ENV" \
    --argjson diffids "$diffids" --argjson history "$history"
  config_size=$(size_of "$WORK/config.json")
  config_hex=$(add_blob "$WORK/config.json")

  write_json "$WORK/manifest.json" '{
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: ("sha256:" + $config), size: $csize},
      layers: $layers
    }' --arg config "$config_hex" --argjson csize "$config_size" --argjson layers "$layers"
  manifest_size=$(size_of "$WORK/manifest.json")
  manifest_hex=$(add_blob "$WORK/manifest.json")

  layout=$WORK/layout-$(basename -- "$out" .tar)
  mkdir -p "$layout/blobs/sha256"
  printf '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
  write_json "$layout/index.json" '{
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [{
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        digest: ("sha256:" + $manifest), size: $msize,
        platform: {architecture: "amd64", os: "linux"},
        annotations: {"io.containerd.image.name": $name, "org.opencontainers.image.ref.name": $ref}
      }]
    }' --arg manifest "$manifest_hex" --argjson msize "$manifest_size" --arg name "$name" --arg ref "$ref"
  local hex
  for hex in "$config_hex" "$manifest_hex" $(jq -r '.[].digest | ltrimstr("sha256:")' <<<"$layers"); do
    cp -- "$BLOBS/$hex" "$layout/blobs/sha256/$hex"
  done
  (cd "$layout" && { printf 'oci-layout\0index.json\0blobs\0blobs/sha256\0'; find blobs/sha256 -type f -print0 | sort -z; }) |
    tar -C "$layout" -cf "$out.tmp" --owner=0 --group=0 --mtime=@$BASE_EPOCH "${TAR_COMMON[@]}"
  mv -f -- "$out.tmp" "$out"
}

layer_json() { # HEX SIZE
  jq -cn --arg mt "$LAYER_MT" --arg hex "$1" --argjson size "$2" '{mediaType: $mt, digest: ("sha256:" + $hex), size: $size}'
}
L_BASE=$(layer_json "$BASE_BLOB" "$BASE_SIZE")
L_HELLO=$(layer_json "$HELLO_BLOB" "$HELLO_SIZE")
L_UPDATE=$(layer_json "$UPDATE_BLOB" "$UPDATE_SIZE")
H_BASE=$(jq -cn --arg c "$BASE_CREATED" --arg h "$BASE_DIFF" \
  '{created: $c, created_by: ("/bin/sh -c #(nop) ADD file:" + $h + " in / ")}')

build_image "$OUTDIR/busybox.tar" docker.io/library/busybox:latest latest "$BASE_CREATED" \
  "[$L_BASE]" "[\"sha256:$BASE_DIFF\"]" \
  "$(jq -cn --arg c "$BASE_CREATED" --argjson base "$H_BASE" \
    '[$base, {created: $c, created_by: "/bin/sh -c #(nop)  CMD [\"sh\"]", empty_layer: true}]')"

build_image "$OUTDIR/hello-world-v1.tar" docker.io/library/hello-world:v1 v1 "$UPDATE_CREATED" \
  "[$L_BASE,$L_HELLO,$L_UPDATE]" "[\"sha256:$BASE_DIFF\",\"sha256:$HELLO_DIFF\",\"sha256:$UPDATE_DIFF\"]" \
  "$(jq -cn --argjson base "$H_BASE" --arg c1 "$HELLO_CREATED" --arg c2 "$UPDATE_CREATED" \
    '[$base,
      {created: $c1, created_by: "/bin/sh -c touch /hello.txt"},
      {created: $c2, created_by: "/bin/sh -c echo \"this is an update to the hello.txt\" > /hello.txt"}]')"

cp -- "$BASE_LAYER" "$OUTDIR/busybox-rootfs.tar.tmp"
mv -f -- "$OUTDIR/busybox-rootfs.tar.tmp" "$OUTDIR/busybox-rootfs.tar"

echo "built $OUTDIR/busybox.tar"
echo "built $OUTDIR/hello-world-v1.tar"
