#!/bin/sh
# The object store's entrypoint in docker-compose.yml (image chrislusf/seaweedfs): writes
# SeaweedFS' S3 identities from the app's credentials file, then runs the image's own
# entrypoint with the arguments given (`server …`).
#
# The credentials file is the compose secret s3_credentials, in the format boto3 reads
# (AWS_SHARED_CREDENTIALS_FILE): its [default] profile's aws_access_key_id and
# aws_secret_access_key. The key exists in that one file: the API and workers sign with it, and
# here it becomes the store's only identity, allowed Read, Write and List on $S3_BUCKET and
# nothing else (no Admin: it cannot create, delete or configure buckets, nor reach another one).
# With no identity at all SeaweedFS would let anyone in, so a missing or malformed file stops the
# container instead.
#
# Variables: S3_BUCKET (required), S3_IDENTITY (the identity's name, default forecast; the
# bucket is created with it as owner), S3_CREDENTIALS_FILE, S3_IDENTITIES_FILE and
# SEAWEEDFS_ENTRYPOINT (defaults for the image; tests/deploy runs this script natively).
set -eu

credentials=${S3_CREDENTIALS_FILE:-/run/secrets/s3_credentials}
identities=${S3_IDENTITIES_FILE:-/etc/seaweedfs/identities.json}
identity=${S3_IDENTITY:-forecast}
bucket=${S3_BUCKET:?S3_BUCKET names the bucket the key may use}

fail() {
  echo "seaweedfs-start: $*" >&2
  exit 1
}

[ -r "$credentials" ] || fail "cannot read the credentials file $credentials (docs/object-store.md)"

# A value of the [default] profile (boto3's INI format: `name = value`, # or ; comments).
profile_value() {
  awk -v want="$1" '
    /^[[:space:]]*[#;]/ { next }
    /^[[:space:]]*\[/ { section = $0; gsub(/[][[:space:]]/, "", section); next }
    section == "default" && index($0, "=") {
      name = substr($0, 1, index($0, "=") - 1); gsub(/[[:space:]]/, "", name)
      if (name == want) {
        value = substr($0, index($0, "=") + 1); gsub(/^[[:space:]]+|[[:space:]]+$/, "", value)
        print value; exit
      }
    }' "$credentials"
}

access_key=$(profile_value aws_access_key_id)
secret_key=$(profile_value aws_secret_access_key)
# Written into JSON below unescaped: only characters that need no escaping are accepted.
case $access_key in '' | *[!A-Za-z0-9_.-]*)
  fail "aws_access_key_id in [default] of $credentials: letters, digits, _ . - only" ;;
esac
case $secret_key in '' | *[!A-Za-z0-9_.+/=-]*)
  fail "aws_secret_access_key in [default] of $credentials: letters, digits, _ . + / = - only" ;;
esac
[ ${#secret_key} -ge 16 ] || fail "aws_secret_access_key in $credentials: at least 16 characters"
case $bucket in '' | *[!a-z0-9.-]*) fail "S3_BUCKET=$bucket is not a bucket name" ;; esac
case $identity in '' | *[!A-Za-z0-9_.-]*) fail "S3_IDENTITY=$identity: letters, digits, _ . -" ;; esac

umask 077
mkdir -p "$(dirname "$identities")"
printf '{"identities": [{"name": "%s", "credentials": [{"accessKey": "%s", "secretKey": "%s"}], "actions": ["Read:%s", "Write:%s", "List:%s"]}]}\n' \
  "$identity" "$access_key" "$secret_key" "$bucket" "$bucket" "$bucket" >"$identities.tmp"
# The image's entrypoint drops from root to its seaweed user before starting weed.
if [ "$(id -u)" = 0 ] && id seaweed >/dev/null 2>&1; then
  chown seaweed:seaweed "$identities.tmp"
fi
mv "$identities.tmp" "$identities"
echo "seaweedfs-start: S3 identity $identity (key $access_key): Read, Write, List on $bucket"

exec "${SEAWEEDFS_ENTRYPOINT:-/entrypoint.sh}" "$@"
