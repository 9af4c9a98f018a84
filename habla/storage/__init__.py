"""Where habla keeps files that outlive a request: job uploads and results, tutor audio, speaker samples.

One small protocol (``ObjectStore``) with two backends: a local folder (the default) and S3-compatible object
storage (AWS S3, MinIO, Ceph...), chosen by ``HABLA_JOBS__STORAGE_URL``. Nothing outside this package talks to
boto3 or to the folder layout directly.
"""

from habla.storage.factory import open_store, store_description
from habla.storage.protocol import ObjectRead, ObjectStore, check_name

__all__ = ["ObjectRead", "ObjectStore", "check_name", "open_store", "store_description"]
