// Every check type of this build, in one place: a new type is one file in types/ plus one line here.
import type { CheckType } from './check-type.js';
import { AWS_EC2_CHECK_TYPE } from './types/aws-ec2.js';
import { CELERY_CHECK_TYPE } from './types/celery.js';
import { ELASTICSEARCH_CHECK_TYPE } from './types/elasticsearch.js';
import { EVALUATED_CHECK_TYPE } from './types/evaluated.js';
import { HTTP_CHECK_TYPE } from './types/http.js';
import { JSON_STATUS_CHECK_TYPE } from './types/json-status.js';
import { KUBERNETES_CHECK_TYPE } from './types/kubernetes.js';
import { MONGODB_CHECK_TYPE } from './types/mongodb.js';
import { SCRIPT_CHECK_TYPE } from './types/script.js';

export const CHECK_TYPES: ReadonlyMap<string, CheckType> = new Map(
  [
    EVALUATED_CHECK_TYPE,
    SCRIPT_CHECK_TYPE,
    HTTP_CHECK_TYPE,
    ELASTICSEARCH_CHECK_TYPE,
    KUBERNETES_CHECK_TYPE,
    MONGODB_CHECK_TYPE,
    JSON_STATUS_CHECK_TYPE,
    AWS_EC2_CHECK_TYPE,
    CELERY_CHECK_TYPE,
  ].map((type) => [type.type, type]),
);
