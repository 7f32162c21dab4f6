/* The single source of the ABI's layout for the layout tests: compiled against
   include/slipstream.h, it prints what the C compiler makes of the header, one
   "EXPRESSION<TAB>VALUE" line per fact, the expression written as C would write it:

     sizeof(T)  _Alignof(T)                 every struct
     offsetof(T, f)  sizeof(((T *)0)->f)    every field (union members and their fields too)
     SLIPSTREAM_…                           every constant

   The Go test (internal/cabi, TestLayoutMatchesC) and the Rust test (sdk/rust/tests/c_layout.rs)
   both run this program and compare its lines with their mirrors in both directions, so a
   field added to the header but not here, or here but not in a mirror, fails a test.
   Adding a field in 1.x: add it to the header, a FIELD line here, then to each mirror. */
#include <stdio.h>
#include <stddef.h>
#include "slipstream.h"

#define STRUCT(T) printf("sizeof(%s)\t%zu\n_Alignof(%s)\t%zu\n", #T, sizeof(T), #T, _Alignof(T))
#define FIELD(T, f)                                                                        \
    printf("offsetof(%s, %s)\t%zu\nsizeof(((%s *)0)->%s)\t%zu\n", #T, #f, offsetof(T, f), \
           #T, #f, sizeof(((T *)0)->f))
#define CONST(c) printf("%s\t%lld\n", #c, (long long)(c))

int main(void) {
    STRUCT(slipstream_bytes);
    FIELD(slipstream_bytes, ptr);
    FIELD(slipstream_bytes, len);

    STRUCT(slipstream_error);
    FIELD(slipstream_error, buf);
    FIELD(slipstream_error, cap);

    STRUCT(slipstream_event);
    FIELD(slipstream_event, kind);
    FIELD(slipstream_event, block_height);
    FIELD(slipstream_event, mapping_update);
    FIELD(slipstream_event, mapping_update.program_id);
    FIELD(slipstream_event, mapping_update.mapping_name);
    FIELD(slipstream_event, mapping_update.key);
    FIELD(slipstream_event, mapping_update.value);
    FIELD(slipstream_event, mapping_removal);
    FIELD(slipstream_event, mapping_removal.program_id);
    FIELD(slipstream_event, mapping_removal.mapping_name);
    FIELD(slipstream_event, mapping_removal.key);
    FIELD(slipstream_event, mapping_removal.has_key);
    FIELD(slipstream_event, mapping_removal.reserved);
    FIELD(slipstream_event, staking_reward);
    FIELD(slipstream_event, staking_reward.staker);
    FIELD(slipstream_event, staking_reward.validator);
    FIELD(slipstream_event, staking_reward.reward);
    FIELD(slipstream_event, staking_reward.new_stake);
    FIELD(slipstream_event, block);
    FIELD(slipstream_event, block.block);
    FIELD(slipstream_event, reserved);

    STRUCT(slipstream_host);
    FIELD(slipstream_host, struct_size);
    FIELD(slipstream_host, reserved);
    FIELD(slipstream_host, ctx);
    FIELD(slipstream_host, log);
    FIELD(slipstream_host, config_get);

    STRUCT(slipstream_load_args);
    FIELD(slipstream_load_args, struct_size);
    FIELD(slipstream_load_args, is_reload);
    FIELD(slipstream_load_args, reserved);
    FIELD(slipstream_load_args, config_file);
    FIELD(slipstream_load_args, config_json);
    FIELD(slipstream_load_args, host);

    STRUCT(slipstream_plugin_vtable);
    FIELD(slipstream_plugin_vtable, struct_size);
    FIELD(slipstream_plugin_vtable, abi_major);
    FIELD(slipstream_plugin_vtable, abi_minor);
    FIELD(slipstream_plugin_vtable, name);
    FIELD(slipstream_plugin_vtable, destroy);
    FIELD(slipstream_plugin_vtable, on_load);
    FIELD(slipstream_plugin_vtable, on_unload);
    FIELD(slipstream_plugin_vtable, subscribed_events);
    FIELD(slipstream_plugin_vtable, on_broadcast);
    FIELD(slipstream_plugin_vtable, on_broadcast_batch);
    FIELD(slipstream_plugin_vtable, resume_height);

    STRUCT(slipstream_plugin);
    FIELD(slipstream_plugin, vtable);

    CONST(SLIPSTREAM_ABI_MAJOR);
    CONST(SLIPSTREAM_ABI_MINOR);
    CONST(SLIPSTREAM_ABI_VERSION);
    CONST(SLIPSTREAM_OK);
    CONST(SLIPSTREAM_ERROR);
    CONST(SLIPSTREAM_EVENT_MAPPING_UPDATE);
    CONST(SLIPSTREAM_EVENT_MAPPING_REMOVAL);
    CONST(SLIPSTREAM_EVENT_STAKING_REWARD);
    CONST(SLIPSTREAM_EVENT_BLOCK);
    CONST(SLIPSTREAM_EVENT_KIND_COUNT);
    CONST(SLIPSTREAM_MASK_ALL);
    CONST(SLIPSTREAM_LOG_TRACE);
    CONST(SLIPSTREAM_LOG_DEBUG);
    CONST(SLIPSTREAM_LOG_INFO);
    CONST(SLIPSTREAM_LOG_WARN);
    CONST(SLIPSTREAM_LOG_ERROR);
    return 0;
}
