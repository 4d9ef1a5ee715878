/* The parts of running a pipeline that `c360 run` and `c360 demo` share:
 * deploying its functions, and running a function in the foreground until
 * it has caught up with its source bucket. */
#ifndef C360_PIPELINE_RUN_H
#define C360_PIPELINE_RUN_H

#include <stdbool.h>

#include "core/rc.h"
#include "eventing/eventing.h"
#include "pipeline/config.h"
#include "store/store.h"

#define C360_PIPELINE_NAME_MAX 128

/* Deploys function i of cfg (an exported Couchbase function JSON, or a
 * native mapping YAML named after its file unless `name:` is given),
 * creating its buckets; a function deployed already with the same
 * definition is kept (it resumes after its checkpoint), one deployed with
 * another definition is redeployed from its boundary
 * (c360_fn_deploy_or_resume). Logs which of the three it did. Its name goes
 * to name. Errors as file:line:column. */
c360_rc c360_pipeline_deploy(c360_store *st, const struct c360_pipeline_config *cfg, int i,
			     char name[C360_PIPELINE_NAME_MAX], char *err, size_t errlen);

/* Runs the deployed function `name` over its feed in the caller's thread
 * until it has caught up (or *stop), writing its checkpoint. stats may be
 * NULL. */
c360_rc c360_pipeline_run_function(c360_store *st, const char *name, const volatile int *stop,
				   struct c360_fn_stats *stats, char *err, size_t errlen);

#endif
