/*
 * slipstream.h — the Slipstream plugin ABI, version 1.0.
 *
 * A Slipstream plugin is a shared library (.so, .dylib, .dll) that a blockchain node loads
 * to observe block finalization: every mapping update and removal, every staking reward and
 * every committed block. This header is the whole contract between the node (the "host")
 * and the plugin. It is plain C11, compiles as C++, and includes only <stdint.h> and
 * <stddef.h>.
 *
 * A minimal plugin:
 *
 *     #include <slipstream.h>
 *     #include <stdlib.h>
 *
 *     typedef struct { slipstream_plugin base; uint64_t seen; } counter;
 *
 *     static const char *counter_name(const slipstream_plugin *self) { (void)self; return "counter"; }
 *     static void counter_destroy(slipstream_plugin *self) { free(self); }
 *     static uint64_t counter_events(const slipstream_plugin *self) {
 *         (void)self; return SLIPSTREAM_MASK(SLIPSTREAM_EVENT_BLOCK);
 *     }
 *     static int32_t counter_broadcast(slipstream_plugin *self, const slipstream_event *ev,
 *                                      slipstream_error *err) {
 *         (void)ev; (void)err; ((counter *)self)->seen++; return SLIPSTREAM_OK;
 *     }
 *     static const slipstream_plugin_vtable counter_vtable = {
 *         .struct_size = sizeof(slipstream_plugin_vtable),
 *         .abi_major = SLIPSTREAM_ABI_MAJOR, .abi_minor = SLIPSTREAM_ABI_MINOR,
 *         .name = counter_name, .destroy = counter_destroy,
 *         .subscribed_events = counter_events, .on_broadcast = counter_broadcast,
 *     };
 *     static slipstream_plugin *counter_create(void) {
 *         counter *c = calloc(1, sizeof *c);
 *         if (c == NULL) return NULL;
 *         c->base.vtable = &counter_vtable;
 *         return &c->base;
 *     }
 *     SLIPSTREAM_DECLARE_PLUGIN(counter_create)
 *
 * Build it with: cc -std=c11 -shared -fPIC -I include counter.c -o libcounter.so
 *
 * Rules every struct follows
 * --------------------------
 *  - Fixed-width integer fields only; constants are #defines, never C enum-typed fields.
 *  - Evolution is append-only within a major version. Structs that may grow start with
 *    `uint32_t struct_size`, so either side can tell which fields the other one knows.
 *  - Strings are UTF-8 and NUL-terminated.
 *  - Nobody frees memory the other side allocated.
 *  - No unwinding (C++ exceptions, Rust panics, longjmp) may cross the boundary: catch it in
 *    your callback and return SLIPSTREAM_ERROR instead.
 *
 * Threading (summary; every callback states its own rule below)
 * --------------------------------------------------------------
 * The host never calls into one plugin instance concurrently: calls are serialized per
 * instance. Consecutive calls may come from different OS threads, so do not rely on
 * thread-local storage between calls. The only function a plugin may call from any thread
 * at any time (between on_load and the return of destroy) is slipstream_host.log.
 */
#ifndef SLIPSTREAM_H
#define SLIPSTREAM_H

#include <stddef.h>
#include <stdint.h>
#ifdef SLIPSTREAM_ERROR_HELPER /* opt-in: see slipstream_error_set() */
#include <stdarg.h>
#include <stdio.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------
 * Versioning
 * ------------------------------------------------------------------------------------------
 * The major changes only when a change breaks existing plugins; the minor grows when fields
 * or kinds are appended. The host refuses a plugin whose major differs from its own, or whose
 * minor is newer than its own (the plugin might rely on fields the host does not fill).
 */
#define SLIPSTREAM_ABI_MAJOR 1
#define SLIPSTREAM_ABI_MINOR 0
#define SLIPSTREAM_ABI_VERSION ((uint32_t)((SLIPSTREAM_ABI_MAJOR << 16) | SLIPSTREAM_ABI_MINOR))

/* Splits a version number as returned by slipstream_abi_version(). */
#define SLIPSTREAM_ABI_VERSION_MAJOR(v) ((uint32_t)(v) >> 16)
#define SLIPSTREAM_ABI_VERSION_MINOR(v) ((uint32_t)(v) & 0xFFFFu)

/* ------------------------------------------------------------------------------------------
 * Status and errors
 * ------------------------------------------------------------------------------------------ */
#define SLIPSTREAM_OK 0
#define SLIPSTREAM_ERROR (-1) /* any non-zero return is an error */

/*
 * Where a failing callback explains itself.
 *
 * Memory: the buffer belongs to the host and is valid only during the call it is passed to.
 * It already holds "" (buf[0] == 0) and has room for `cap` bytes including the NUL.
 * A callback that returns non-zero may write a NUL-terminated UTF-8 message into it,
 * truncated to `cap` bytes; slipstream_error_set() below does exactly that.
 */
typedef struct slipstream_error {
    char *buf;    /* host-owned buffer, already holds "" */
    uint64_t cap; /* its size in bytes, >= 1 */
} slipstream_error;

/* ------------------------------------------------------------------------------------------
 * Events
 * ------------------------------------------------------------------------------------------ */
#define SLIPSTREAM_EVENT_MAPPING_UPDATE 0u  /* a key was inserted or updated */
#define SLIPSTREAM_EVENT_MAPPING_REMOVAL 1u /* a key, a mapping, or a program's mappings removed */
#define SLIPSTREAM_EVENT_STAKING_REWARD 2u  /* a staker was paid (reward may be 0) */
#define SLIPSTREAM_EVENT_BLOCK 3u           /* a block was committed */
#define SLIPSTREAM_EVENT_KIND_COUNT 4u

/* The bit of `kind` in a subscription mask (see subscribed_events). */
#define SLIPSTREAM_MASK(kind) (UINT64_C(1) << (kind))
/* Every kind this version of the header knows. */
#define SLIPSTREAM_MASK_ALL ((UINT64_C(1) << SLIPSTREAM_EVENT_KIND_COUNT) - 1u)

/*
 * A borrowed byte string: the node's little-endian encoding of a value (snarkVM's
 * to_bytes_le()). The host never interprets it.
 *
 * Memory: valid only during the callback it is passed to; copy what you keep.
 * ptr is NULL only when len == 0.
 */
typedef struct slipstream_bytes {
    const uint8_t *ptr; /* NULL only when len == 0 */
    uint64_t len;
} slipstream_bytes;

/*
 * One event. `kind` says which member of the union is valid.
 *
 * Memory: the event and every byte string it points to are owned by the host and valid only
 * during the callback that receives them. Arrays of events (on_broadcast_batch) are
 * contiguous, with a stride of sizeof(slipstream_event) == 104.
 *
 * A plugin must ignore (and not fail on) kinds it does not know: a host of a newer minor may
 * add kinds, though it only delivers kinds the plugin subscribed to.
 */
typedef struct slipstream_event {
    uint32_t kind;         /* SLIPSTREAM_EVENT_* */
    uint32_t block_height; /* height of the block being finalized */
    union {
        /* SLIPSTREAM_EVENT_MAPPING_UPDATE: `key` of `mapping_name` in `program_id` now holds
           `value`. Emitted for every insert and update, and once per entry of a mapping
           replacement. */
        struct {
            slipstream_bytes program_id, mapping_name, key, value;
        } mapping_update;
        /* SLIPSTREAM_EVENT_MAPPING_REMOVAL: has_key 1: `key` was removed; has_key 0: the whole
           mapping was removed (also once per mapping of a removed program), `key` is empty. */
        struct {
            slipstream_bytes program_id, mapping_name, key;
            uint8_t has_key;
            uint8_t reserved[7];
        } mapping_removal;
        /* SLIPSTREAM_EVENT_STAKING_REWARD: `staker` (bonded to `validator`) earned `reward`
           microcredits; its stake is now `new_stake`. reward is saturating(new - old). */
        struct {
            slipstream_bytes staker, validator;
            uint64_t reward, new_stake;
        } staking_reward;
        /* SLIPSTREAM_EVENT_BLOCK: the block, committed, in the node's encoding. Delivered after
           every mapping and staking event of the same block. */
        struct {
            slipstream_bytes block;
        } block;
        uint64_t reserved[12]; /* fixes the union at 96 bytes: new kinds must fit */
    };
} slipstream_event; /* 104 bytes; arrays of it have that stride */

/* ------------------------------------------------------------------------------------------
 * Host services
 * ------------------------------------------------------------------------------------------ */
#define SLIPSTREAM_LOG_TRACE 0
#define SLIPSTREAM_LOG_DEBUG 1
#define SLIPSTREAM_LOG_INFO 2
#define SLIPSTREAM_LOG_WARN 3
#define SLIPSTREAM_LOG_ERROR 4

/*
 * Functions the host offers the plugin.
 *
 * Memory: the struct, and `ctx`, are valid from on_load until destroy returns. Keep the
 * pointer from slipstream_load_args.host if you want to log later.
 */
typedef struct slipstream_host {
    uint32_t struct_size; /* sizeof(slipstream_host) at the host's build */
    uint32_t reserved;
    void *ctx; /* pass back unchanged */

    /* Writes `msg` (NUL-terminated UTF-8, copied before return) to the node's log at `level`
       (SLIPSTREAM_LOG_*), tagged with the plugin's name.
       Threading: may be called from any thread, including threads the plugin started, at any
       time between on_load and the return of destroy. */
    void (*log)(void *ctx, int32_t level, const char *msg);

    /* Copies the top-level config value `key` as text (strings unquoted, numbers and booleans
       as written, objects/arrays as JSON) into buf, NUL-terminated. Returns the text's length
       without the NUL (the copy is truncated when the result is >= cap), or -1 if absent.
       buf may be NULL when cap is 0, to ask for the length.
       Threading: call it only from within on_load (it reads the config being loaded). */
    int64_t (*config_get)(void *ctx, const char *key, char *buf, uint64_t cap);
} slipstream_host;

/*
 * What on_load receives.
 *
 * Memory: `host` stays valid until destroy returns; everything else (config_file,
 * config_json, the struct itself) is valid during on_load only: copy what you keep.
 */
typedef struct slipstream_load_args {
    uint32_t struct_size; /* sizeof(slipstream_load_args) at the host's build */
    uint8_t is_reload;    /* 1 when called by ReloadPlugin */
    uint8_t reserved[3];
    const char *config_file;     /* absolute path of the config file */
    const char *config_json;     /* the whole config as strict JSON */
    const slipstream_host *host; /* valid until destroy returns; log() may be called from any thread */
} slipstream_load_args;          /* everything else is valid during on_load only */

/* ------------------------------------------------------------------------------------------
 * The plugin object
 * ------------------------------------------------------------------------------------------ */
typedef struct slipstream_plugin slipstream_plugin;

/*
 * The plugin's functions. Usually one `static const` vtable per plugin type.
 *
 * Memory: the vtable must stay valid until destroy returns (a static object is simplest).
 *
 * Evolution: the host reads only the first `struct_size` bytes; fields past them count as
 * NULL. A vtable too small to hold `destroy` is refused.
 *
 * Call order, for one instance:
 *   _create_plugin -> name -> on_load -> subscribed_events -> on_broadcast*... ->
 *   on_unload -> destroy -> library closed.
 * If on_load fails: destroy, then the library is closed; nothing is registered.
 */
typedef struct slipstream_plugin_vtable {
    uint32_t struct_size; /* sizeof(slipstream_plugin_vtable) at the plugin's build */
    /* The version the vtable was written against, for debuggers and tools. Informative only:
       the host does not read them; it decides on slipstream_abi_version() (compatibility) and
       struct_size (which fields exist). Set them with the constants. */
    uint16_t abi_major; /* SLIPSTREAM_ABI_MAJOR */
    uint16_t abi_minor; /* SLIPSTREAM_ABI_MINOR */

    /* ---- required ---- */

    /* The plugin's name, used in logs, metrics and the admin API unless the config's `name`
       overrides it. Must be non-NULL and non-empty.
       Memory: the string stays valid until destroy returns.
       Threading: called once, right after _create_plugin, on the loading thread. */
    const char *(*name)(const slipstream_plugin *self);

    /* Frees the instance and everything it owns. Called exactly once, last; after on_unload,
       or after a failed on_load (then on_unload is not called).
       Threading: called on the thread that unloads the plugin. */
    void (*destroy)(slipstream_plugin *self);

    /* ---- optional: NULL means the default ---- */

    /* Reads the configuration, opens resources. Return SLIPSTREAM_OK, or non-zero with a
       message in *err: the plugin is then not loaded (the host calls destroy and closes the
       library) and the message reaches the operator. Default: success.
       args->is_reload is 1 when the operator reloads the plugin with a (new) config; the
       previous instance has already been unloaded and destroyed.
       Threading: called once, on the loading thread. */
    int32_t (*on_load)(slipstream_plugin *self, const slipstream_load_args *args, slipstream_error *err);

    /* Flushes and releases what on_load opened; joins the plugin's own threads. Called once,
       after the last on_broadcast* call has returned and before destroy.
       Threading: called on the unloading thread. */
    void (*on_unload)(slipstream_plugin *self);

    /* The kinds the plugin wants, as a mask of SLIPSTREAM_MASK(kind) bits. NULL or 0: no
       events at all. Read once after on_load succeeds (and again after a reload); changing
       the answer later has no effect. Bits of unknown kinds are ignored.
       Threading: called on the loading thread. */
    uint64_t (*subscribed_events)(const slipstream_plugin *self);

    /* Receives one event of a subscribed kind. Return SLIPSTREAM_OK, or non-zero with an
       optional message in *err: the host logs it with the plugin's name and counts it; it never
       reaches the node's finalization unless the operator chose error_policy "halt".
       Events arrive in the order the node wrote them; within a block mapping events come
       first, then staking rewards, then the Block event. Only committed, canonical writes are
       delivered: never speculative, dry-run, rewound or aborted ones.
       Memory: *event and its byte strings are valid during this call only.
       Threading: with delivery "sync" this runs on the node's finalization path: return
       quickly. With delivery "async" it runs on a host worker thread for this plugin. Never
       concurrently with another call into this instance. */
    int32_t (*on_broadcast)(slipstream_plugin *self, const slipstream_event *event, slipstream_error *err);

    /* Receives `count` >= 1 events in one call, in order, all of subscribed kinds (the host
       delivers a block's events this way when it can). A non-zero return counts as one error
       for the whole batch. If set, the host may use it instead of on_broadcast.
       Memory and threading: as on_broadcast; `events` is an array with stride
       sizeof(slipstream_event). */
    int32_t (*on_broadcast_batch)(slipstream_plugin *self, const slipstream_event *events, uint64_t count,
                                  slipstream_error *err);
} slipstream_plugin_vtable;

/*
 * A plugin instance. A plugin embeds this struct as the first member of its own struct and
 * casts `self` back in its callbacks.
 */
struct slipstream_plugin {
    const slipstream_plugin_vtable *vtable; /* first member; a plugin embeds this struct first in its own */
};

/* ------------------------------------------------------------------------------------------
 * Entry points and helpers
 * ------------------------------------------------------------------------------------------ */
#if defined(_WIN32) || defined(__CYGWIN__)
#define SLIPSTREAM_EXPORT __declspec(dllexport)
#else
#define SLIPSTREAM_EXPORT __attribute__((visibility("default")))
#endif

/*
 * Defines the two exported entry points of a plugin library (write it at file scope, with no
 * semicolon after it: `SLIPSTREAM_DECLARE_PLUGIN(my_create)`):
 *
 *   uint32_t slipstream_abi_version(void);    returns the SLIPSTREAM_ABI_VERSION built with
 *   slipstream_plugin *_create_plugin(void);  returns create_fn(): a new instance, or NULL
 *
 * The host calls slipstream_abi_version first and refuses an incompatible plugin before it
 * creates anything; a library without slipstream_abi_version is not a Slipstream 1.x plugin.
 * A host loads one library (by its resolved path) at most once at a time and calls
 * _create_plugin once per load; a reload unloads, closes and opens the library anew.
 * Threading: both are called on the loading thread.
 */
#define SLIPSTREAM_DECLARE_PLUGIN(create_fn)                                                      \
    SLIPSTREAM_EXPORT uint32_t slipstream_abi_version(void) { return SLIPSTREAM_ABI_VERSION; } \
    SLIPSTREAM_EXPORT slipstream_plugin *_create_plugin(void) { return (create_fn)(); }

/* Prototypes of the entry points, for hosts and for checking SLIPSTREAM_DECLARE_PLUGIN. */
SLIPSTREAM_EXPORT uint32_t slipstream_abi_version(void);
SLIPSTREAM_EXPORT slipstream_plugin *_create_plugin(void);

/*
 * Writes a printf-style message into a callback's error buffer (truncated to its capacity,
 * always NUL-terminated) and returns SLIPSTREAM_ERROR, so a callback can write
 *
 *     return slipstream_error_set(err, "cannot open %s: %s", path, strerror(errno));
 *
 * Safe with err == NULL. It needs vsnprintf, so it is defined only when the plugin defines
 * SLIPSTREAM_ERROR_HELPER before including this header (which then includes <stdarg.h> and
 * <stdio.h>); without it the header includes nothing but <stdint.h> and <stddef.h>, and
 * slipstream_error_copy() below is always there.
 */
#ifdef SLIPSTREAM_ERROR_HELPER
#ifdef __GNUC__
__attribute__((format(printf, 2, 3)))
#endif
static inline int32_t slipstream_error_set(slipstream_error *err, const char *fmt, ...) {
    if (err != NULL && err->buf != NULL && err->cap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->buf, (size_t)err->cap, fmt, ap);
        va_end(ap);
    }
    return SLIPSTREAM_ERROR;
}
#endif

/*
 * Copies the NUL-terminated `msg` into a callback's error buffer (truncated to its capacity,
 * always NUL-terminated) and returns SLIPSTREAM_ERROR. Needs no other header. Safe with
 * err == NULL or msg == NULL.
 */
static inline int32_t slipstream_error_copy(slipstream_error *err, const char *msg) {
    if (err != NULL && err->buf != NULL && err->cap > 0) {
        uint64_t i = 0;
        if (msg != NULL) {
            for (; i + 1 < err->cap && msg[i] != '\0'; i++) err->buf[i] = msg[i];
        }
        err->buf[i] = '\0';
    }
    return SLIPSTREAM_ERROR;
}

/*
 * Reads the config value `key` as a file path and resolves it the way the host resolves
 * `libpath`: a relative path is taken relative to the directory of args->config_file, an
 * absolute one (starting with '/'; on Windows also '\\' or a drive letter) and an empty value
 * are copied as they are. Like config_get, it writes the NUL-terminated result into buf
 * (truncated when the result is >= cap) and returns the result's length without the NUL, or
 * -1 when the key is absent (or args, key or the host's config_get is missing); buf may be
 * NULL when cap is 0, to ask for the length. Call it only from within on_load:
 *
 *     int64_t n = slipstream_config_path(args, "db", NULL, 0);
 *     char *db = n < 0 ? NULL : malloc((size_t)n + 1);
 *     if (db != NULL) slipstream_config_path(args, "db", db, (uint64_t)n + 1);
 *
 * Needs no other header.
 */
static inline int64_t slipstream_config_path(const slipstream_load_args *args, const char *key, char *buf,
                                             uint64_t cap) {
    const slipstream_host *host;
    const char *file;
    char head[3];
    int64_t n, m;
    uint64_t dir = 0, i;
    int absolute;
    if (args == NULL || key == NULL ||
        args->struct_size < offsetof(slipstream_load_args, host) + sizeof(args->host) || args->host == NULL) {
        return -1;
    }
    host = args->host;
    if (host->struct_size < offsetof(slipstream_host, config_get) + sizeof(host->config_get) ||
        host->config_get == NULL) {
        return -1;
    }
    /* The first two bytes tell whether the value is absolute. */
    head[0] = head[1] = '\0';
    n = host->config_get(host->ctx, key, head, sizeof head);
    if (n < 0) return -1;
    absolute = head[0] == '/';
#ifdef _WIN32
    absolute = absolute || head[0] == '\\' || (head[0] != '\0' && head[1] == ':');
#endif
    file = args->config_file;
    if (n > 0 && !absolute && file != NULL) {
        for (i = 0; file[i] != '\0'; i++) {
#ifdef _WIN32
            if (file[i] == '\\') dir = i + 1;
#endif
            if (file[i] == '/') dir = i + 1; /* keep the separator */
        }
    }
    if (dir == 0) return host->config_get(host->ctx, key, buf, cap);
    if (buf == NULL || cap == 0) return (int64_t)dir + n;
    for (i = 0; i < dir && i + 1 < cap; i++) buf[i] = file[i];
    if (dir + 1 >= cap) { /* room for (part of) the directory only */
        buf[i] = '\0';
        return (int64_t)dir + n;
    }
    m = host->config_get(host->ctx, key, buf + dir, cap - dir);
    if (m < 0) {
        buf[0] = '\0';
        return -1;
    }
    return (int64_t)dir + m;
}

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SLIPSTREAM_H */
