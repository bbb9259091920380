#!/bin/sh
# The one-shot `buckets` service in docker-compose.yml (image chrislusf/seaweedfs): creates the
# artifact store's bucket, owned by the app's identity, unless it exists; exits 0 only once the
# bucket is listed. It shares the object store's network namespace (network_mode
# service:objectstore), where SeaweedFS' master and filer listen on the loopback only: S3 keys
# cannot create buckets (the app's has no Admin), `weed shell` on the store's own loopback can.
#
# Variables: S3_BUCKET (required), S3_IDENTITY (default forecast), ATTEMPTS (default 30, two
# seconds apart: the filer may still be starting).
set -eu

bucket=${S3_BUCKET:?S3_BUCKET names the bucket to create}
owner=${S3_IDENTITY:-forecast}
attempts=${ATTEMPTS:-30}

# `weed shell` exits 0 whatever its commands did: success is the bucket in its list.
shell() {
  echo "$1" | timeout 30 weed shell -master=127.0.0.1:9333 -filer=127.0.0.1:8888 2>&1
}
listed() {
  shell "s3.bucket.list" | grep -q "^  $bucket$(printf '\t')"
}

attempt=1
until listed; do
  if [ "$attempt" -gt "$attempts" ]; then
    echo "make-bucket: $bucket is not listed after $attempts attempts" >&2
    exit 1
  fi
  shell "s3.bucket.create -name $bucket -owner $owner" || true
  attempt=$((attempt + 1))
  sleep 2
done
echo "make-bucket: $bucket is ready"
