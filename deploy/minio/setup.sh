#!/bin/sh
# Run once by the `bucket` service: create the bucket and a hub user limited to it.
set -eu
mc alias set local http://minio:9000 "$(cat /run/secrets/minio_root_user)" "$(cat /run/secrets/minio_root_password)" >/dev/null
mc mb --ignore-existing local/medshare
mc admin policy create local medshare-hub /deploy/minio/hub-policy.json
mc admin user add local medshare-hub "$(cat /run/secrets/s3_hub_secret)"
mc admin policy attach local medshare-hub --user medshare-hub || true
echo "bucket and hub user ready"
