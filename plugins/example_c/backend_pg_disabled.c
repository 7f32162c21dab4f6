/* backend_pg_disabled.c — stands in for backend_pg.c when built with SLIPSTREAM_WITH_POSTGRES=OFF. */
#define SLIPSTREAM_ERROR_HELPER
#include "hist_backend.h"

int32_t hist_pg_open(const char *conninfo, const char *schema, hist_logger logger, hist_backend **out,
                     slipstream_error *err) {
    (void)conninfo;
    (void)schema;
    (void)logger;
    *out = NULL;
    return slipstream_error_set(err, "history: this build has no PostgreSQL backend (SLIPSTREAM_WITH_POSTGRES=OFF)");
}
