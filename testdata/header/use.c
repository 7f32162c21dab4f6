/* Compiled by `make test-header` as C11 and as C++17 with every warning an error: the header
   must be clean for plugin authors in both languages, with and without the formatting helper. */
#ifdef WITH_HELPER
#define SLIPSTREAM_ERROR_HELPER
#endif
#include "slipstream.h"

static int32_t fail(slipstream_error *err) {
#ifdef WITH_HELPER
    return slipstream_error_set(err, "code %d", 7);
#else
    return slipstream_error_copy(err, "failed");
#endif
}

int main(void) {
    char buf[8];
    slipstream_error err = {buf, sizeof buf};
    slipstream_event ev;
    ev.kind = SLIPSTREAM_EVENT_BLOCK;
    ev.block.block.len = 0;
    if (sizeof ev != 104 || ev.block.block.len != 0) return 2;
    return fail(&err) == SLIPSTREAM_ERROR && buf[0] != '\0' ? 0 : 1;
}
