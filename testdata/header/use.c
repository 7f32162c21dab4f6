/* Compiled by `make test-header` as C11 and as C++17 with every warning an error: the header
   must be clean for plugin authors in both languages, with and without the formatting helper.
   It also tests the header's helpers (slipstream_error_*, slipstream_config_path) and the 1.1
   vtable: a plugin filling every entry, resume_height included, with designated initializers.
   testdata/header/use10.c does the same against the frozen 1.0 header. */
#ifdef WITH_HELPER
#define SLIPSTREAM_ERROR_HELPER
#endif
#include "slipstream.h"

#include <stdio.h>
#include <string.h>

static int32_t fail(slipstream_error *err) {
#ifdef WITH_HELPER
    return slipstream_error_set(err, "code %d", 7);
#else
    return slipstream_error_copy(err, "failed");
#endif
}

/* A config_get serving a fixed table of (key, value), as the host does: copies the value
   truncated to cap - 1 bytes plus a NUL, returns the whole length, -1 when absent. */
static const char *const config_table[][2] = {
    {"rel", "history.db"},
    {"sub", "data/h.db"},
    {"abs", "/var/lib/h.db"},
    {"empty", ""},
    {"one", "x"},
};

static int64_t fake_config_get(void *ctx, const char *key, char *buf, uint64_t cap) {
    size_t i;
    (void)ctx;
    for (i = 0; i < sizeof config_table / sizeof config_table[0]; i++) {
        if (strcmp(config_table[i][0], key) == 0) {
            const char *v = config_table[i][1];
            uint64_t len = strlen(v), j;
            if (buf != NULL && cap > 0) {
                for (j = 0; j < len && j + 1 < cap; j++) buf[j] = v[j];
                buf[j] = '\0';
            }
            return (int64_t)len;
        }
    }
    return -1;
}

static int failures = 0;

static void check_path(const slipstream_load_args *args, const char *key, int64_t want_len, const char *want) {
    char buf[128];
    uint64_t cap;
    int64_t n = slipstream_config_path(args, key, NULL, 0);
    if (n != want_len) {
        fprintf(stderr, "config_path(%s, NULL, 0) = %lld, want %lld\n", key, (long long)n, (long long)want_len);
        failures++;
    }
    /* Every capacity: the result is the prefix that fits, always NUL-terminated, never past cap. */
    for (cap = 1; want != NULL && cap <= strlen(want) + 2; cap++) {
        size_t fit = strlen(want) < cap - 1 ? strlen(want) : (size_t)cap - 1;
        memset(buf, 'Z', sizeof buf);
        n = slipstream_config_path(args, key, buf, cap);
        if (n != want_len || strlen(buf) != fit || strncmp(buf, want, fit) != 0 || buf[cap] != 'Z') {
            fprintf(stderr, "config_path(%s, cap %llu) = %lld \"%s\", want %lld \"%.*s\"\n", key,
                    (unsigned long long)cap, (long long)n, buf, (long long)want_len, (int)fit, want);
            failures++;
        }
    }
}

static int test_config_path(void) {
    slipstream_host host;
    slipstream_load_args args;
    memset(&host, 0, sizeof host);
    host.struct_size = sizeof host;
    host.config_get = fake_config_get;
    memset(&args, 0, sizeof args);
    args.struct_size = sizeof args;
    args.config_file = "/etc/slipstream/history.json5";
    args.host = &host;

    check_path(&args, "rel", 26, "/etc/slipstream/history.db");
    check_path(&args, "sub", 25, "/etc/slipstream/data/h.db");
    check_path(&args, "one", 17, "/etc/slipstream/x");
    check_path(&args, "abs", 13, "/var/lib/h.db");
    check_path(&args, "empty", 0, "");
    check_path(&args, "absent", -1, NULL);
    args.config_file = "/h.json5";
    check_path(&args, "rel", 11, "/history.db");
    args.config_file = "h.json5"; /* no directory part: the value as it is */
    check_path(&args, "sub", 9, "data/h.db");
    args.config_file = NULL;
    check_path(&args, "rel", 10, "history.db");
    /* No config_get (or a host too old to have it), no args, no key: absent. */
    args.config_file = "/etc/slipstream/history.json5";
    host.struct_size = (uint32_t)offsetof(slipstream_host, config_get);
    check_path(&args, "rel", -1, NULL);
    host.struct_size = sizeof host;
    host.config_get = NULL;
    check_path(&args, "rel", -1, NULL);
    if (slipstream_config_path(NULL, "rel", NULL, 0) != -1 || slipstream_config_path(&args, NULL, NULL, 0) != -1) {
        fprintf(stderr, "config_path with NULL args or key is not -1\n");
        failures++;
    }
    return failures;
}

/* A 1.1 plugin's vtable, every entry set (C++ needs them in declaration order). */
static const char *v_name(const slipstream_plugin *self) { (void)self; return "v"; }
static void v_destroy(slipstream_plugin *self) { (void)self; }
static int32_t v_resume(slipstream_plugin *self, uint64_t *height, slipstream_error *err) {
    (void)self; (void)err; *height = 42; return SLIPSTREAM_OK;
}
static const slipstream_plugin_vtable v_vtable = {
    sizeof(slipstream_plugin_vtable), SLIPSTREAM_ABI_MAJOR, SLIPSTREAM_ABI_MINOR, v_name, v_destroy,
    NULL, NULL, NULL, NULL, NULL, v_resume,
};

static int test_vtable_1_1(void) {
    slipstream_plugin p;
    uint64_t h = 0;
    char buf[8] = "";
    slipstream_error err = {buf, sizeof buf};
    p.vtable = &v_vtable;
    if (SLIPSTREAM_ABI_MINOR != 1 || SLIPSTREAM_ABI_VERSION != 0x10001u) return 1;
    if (sizeof(slipstream_plugin_vtable) != 72 || offsetof(slipstream_plugin_vtable, resume_height) != 64) return 1;
    if (p.vtable->resume_height(&p, &h, &err) != SLIPSTREAM_OK || h != 42) return 1;
    return 0;
}

int main(void) {
    char buf[8];
    slipstream_error err = {buf, sizeof buf};
    slipstream_event ev;
    ev.kind = SLIPSTREAM_EVENT_BLOCK;
    ev.block.block.len = 0;
    if (sizeof ev != 104 || ev.block.block.len != 0) return 2;
    if (test_config_path() != 0) return 3;
    if (test_vtable_1_1() != 0) return 4;
    return fail(&err) == SLIPSTREAM_ERROR && buf[0] != '\0' ? 0 : 1;
}
